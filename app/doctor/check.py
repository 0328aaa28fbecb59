"""One line of ``doctor``'s report, and the report's two renderings (text and JSON).

Kept apart from the checks so the tray's About window ("Copy report") can show a report
without importing what produces it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from app.support.i18n import N_, _

BACKENDS = ("keymanager", "telemetrydeck")
# The check names (``--json`` keeps them as they are: they are keys) as the text report shows
# them; a backend's own checks are "<backend> <step>".
NAMES = {name: name for name in (
    N_("vendor config"), N_("vendor texts"), N_("state dir"), N_("free space"),
    N_("database"), N_("outbox"), N_("keyring"), N_("session bus"), N_("system tray"),
    N_("policy"), N_("network"), N_("state"), N_("pause"), N_("consent"), N_("sending"),
    N_("server"), N_("license"), N_("tray"))}
STEPS = {step: step for step in (
    N_("{backend} config"), N_("{backend} outbox"), N_("{backend} proxy"), N_("{backend} DNS"),
    N_("{backend} TCP"), N_("{backend} TLS"), N_("{backend} tunnel"), N_("{backend} HTTP"),
    N_("{backend} clock"))}


def shown_name(name: str) -> str:
    """A check's name in the user's language (backend names as they are)."""
    backend, _space, step = name.partition(" ")
    if backend in BACKENDS and "{backend} " + step in STEPS:
        return _("{backend} " + step).format(backend=backend)
    return _(name) if name in NAMES else name


class Verdict(enum.Enum):
    """How one check came out."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    NOT_CHECKED = "not-checked"  # could not be looked at here: neither ok nor a problem


@dataclass(frozen=True)
class Check:
    """One check: what was looked at, the verdict, what was found and, if needed, what to do."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {"name": self.name, "verdict": self.verdict.value, "detail": self.detail,
                "fix": self.fix}


@dataclass
class DoctorReport:
    """Every check, in order. Exit 0 when all are ok, 1 when something needs attention."""

    checks: list[Check] = field(default_factory=list)
    title: str = ""

    @property
    def exit_code(self) -> int:
        """0 all pass (or could not be checked here); 1 a warning or a failure."""
        return 0 if all(c.verdict in (Verdict.OK, Verdict.NOT_CHECKED)
                        for c in self.checks) else 1

    def counts(self) -> dict[str, int]:
        """How many checks had each verdict."""
        return {v.value: sum(c.verdict is v for c in self.checks) for v in Verdict}

    def to_dict(self) -> dict[str, Any]:
        """``doctor --json``."""
        return {"title": self.title, "exit_code": self.exit_code, "counts": self.counts(),
                "checks": [c.to_dict() for c in self.checks]}

    def to_json(self) -> str:
        """The exact text ``doctor --json`` prints."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """One check per line (``ok``/``WARN``/``FAIL``), a "fix:" line under each problem."""
        names = {c.name: shown_name(c.name) for c in self.checks}
        width = max((len(n) for n in names.values()), default=0)
        lines = [self.title] if self.title else []
        for check in self.checks:
            mark = {Verdict.OK: "ok", Verdict.NOT_CHECKED: "--"}.get(
                check.verdict, check.verdict.value.upper())
            lines.append(f"{mark:4}  {names[check.name]:{width}}  {check.detail}")
            if check.fix and check.verdict in (Verdict.WARN, Verdict.FAIL):
                lines.append(f"{'':4}  {'':{width}}  " + _("fix: {fix}").format(fix=check.fix))
        counts = self.counts()
        skipped = (_(", {count} not checked here").format(count=counts["not-checked"])
                   if counts["not-checked"] else "")
        lines.append(_("{ok} ok, {warn} warning(s), {fail} failed").format(
            ok=counts["ok"], warn=counts["warn"], fail=counts["fail"]) + skipped)
        return "\n".join(lines)
