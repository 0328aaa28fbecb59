"""What every command of the command line shares: its context, exit codes and output helpers.

Exit codes: 0 done; 1 done but something remains or failed (e.g. events still queued);
2 bad usage or configuration; 70 a bug (details in the log file).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.model.text import printable
from app.storage.config import VendorConfig, load_config
from app.storage.paths import state_dir
from app.support.logsetup import SECRETS

if TYPE_CHECKING:
    import argparse

    from app.core.companion import Companion
    from app.core.wiring import CompanionBuilder, IdentitySource

EXIT_OK, EXIT_REMAINS, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 70


class Context:
    """What every command gets: parsed args, config, state dir, and the companion on demand.

    Args:
        args: the parsed command line.
        build: builds the companion from the config and state dir (default:
            ``app.core.wiring.build_companion`` with this context's identity); tests pass their own.
    """

    def __init__(self, args: argparse.Namespace, build: CompanionBuilder | None = None) -> None:
        self.args = args
        self.home: Path = state_dir(args.home)
        self._build = build
        self._config: VendorConfig | None = None
        self._identity: IdentitySource | None = None
        self._companion: Companion | None = None

    @property
    def config(self) -> VendorConfig:
        """The vendor configuration (loaded on first use)."""
        if self._config is None:
            self._config = load_config(self.args.config)
            SECRETS.add(self._config.keymanager.api_key)
        return self._config

    @property
    def identity(self) -> IdentitySource:
        """This user's identifiers, derived once per process (``id`` and the companion)."""
        if self._identity is None:
            from app.core.wiring import identity_source

            self._identity = identity_source(self.config.product.id)
        return self._identity

    def build_companion(self) -> Companion:
        """A new companion (the tray's worker builds its own on its thread with this)."""
        if self._build is not None:
            return self._build(self.config, self.home)
        from app.core.wiring import build_companion

        # ``track`` (a process per event) does not read the whole database file at opening;
        # every command that lives longer or reports on the queue does (see ``Database``).
        return build_companion(self.config, self.home, identity=self.identity,
                               check_pages=self.args.command != "track")

    @property
    def companion(self) -> Companion:
        """The service object (opened on first use)."""
        if self._companion is None:
            self._companion = self.build_companion()
        return self._companion

    def close(self) -> None:
        """Release what was opened."""
        if self._companion is not None:
            self._companion.close()


def out(text: str = "") -> None:
    """Print to stdout, control characters spelled out (newlines and tabs kept).

    Most of what commands print holds text a server, the vendor config or an event supplied;
    none of it may act on the user's terminal. One-line fields are also wrapped in
    ``printable`` where they are formatted, so an embedded newline cannot fake a line.
    """
    print(printable(text, keep_newlines=True))


def out_json(data: Any) -> None:
    """Print JSON to stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def when(ts: float | None) -> str:
    """A timestamp for people: local time, or "never"."""
    if not ts:
        from app.support.i18n import _

        return _("never")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
