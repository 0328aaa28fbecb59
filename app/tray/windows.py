"""Opens the tray's windows on demand and feeds them through the worker, never the service.

Each window's module is imported, and the window created, the first time it is asked for (an
idle tray holds none of them); it is reused after (raised and activated
when asked again). Data flows one way: window signal -> ``WorkerController.run`` (the call runs
on the worker thread) -> callback on the GUI thread -> window setter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.tray.icons import Icons

if TYPE_CHECKING:  # imported where used: an idle tray needs none of them
    from app.core.results import CommandError, ConsentResult, ConsentView
    from app.storage.texts import Texts
    from app.tray.rights import RightsActions
    from app.tray.worker_controller import WorkerController

log = logging.getLogger(__name__)

WINDOWS = ("license", "consent", "history", "about")
HISTORY_LIMIT = 500  # entries loaded into the History window (the export writes them all)
PREVIEW_LIMIT = 20  # requests per backend shown in the consent window's preview


def _preview_with_summaries(companion: object, reveal: bool, granted: tuple) -> tuple:
    """On the worker thread: the previews and their plain summaries (``{backend: text}``)."""
    from app.core import summary

    previews = companion.preview(  # type: ignore[attr-defined]
        reveal=reveal, limit=PREVIEW_LIMIT, granted=granted)
    return previews, summary.summaries(companion, previews)  # type: ignore[arg-type]


class Windows(QObject):
    """Owner of the License, Consent, History and About windows.

    Args:
        controller: the worker's GUI-side handle.
        product: the product's name (titles).
        state_dir: shown in About.
        config_path: shown in About.
        icons: the application icons.
        texts: the user-visible texts (default: the system language's).
    """

    def __init__(
        self,
        controller: WorkerController,
        product: str,
        state_dir: Path,
        config_path: Path,
        icons: Icons,
        texts: Texts | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.product = product
        self.state_dir = state_dir
        self.config_path = config_path
        self.icons = icons
        self._texts = texts
        self.open: dict[str, QWidget] = {}
        self._preview_token = 0
        self.last_shown = ""
        self.rights_actions: RightsActions | None = None
        controller.sendFinished.connect(self._refresh_history)
        controller.failed.connect(self._on_failed)

    @property
    def texts(self) -> Texts:
        """Loaded on first use."""
        if self._texts is None:
            from app.storage.texts import load_texts

            self._texts = load_texts()
        return self._texts

    def show(self, name: str) -> QWidget:
        """Create (once), fill, show, raise and activate a window."""
        if name not in WINDOWS:
            raise ValueError(f"unknown window {name!r}; one of {', '.join(WINDOWS)}")
        window = self.open.get(name) or self._create(name)
        self.open[name] = window
        self._refresh(name)
        window.show()
        window.raise_()
        window.activateWindow()
        self.last_shown = name
        return window

    def bring_forward(self) -> QWidget:
        """A second start of the app: raise the last window shown, else the License window."""
        name = self.last_shown if self.last_shown in self.open else "license"
        return self.show(name)

    def close_all(self) -> None:
        """Close every window (quitting)."""
        for window in self.open.values():
            window.close()

    def visible(self, name: str) -> QWidget | None:
        """The window if it is open and visible."""
        window = self.open.get(name)
        return window if window is not None and window.isVisible() else None

    def rights(self, op: str) -> RightsActions:
        """Ask about "reset" (the identifier) or "forget" (everything), then do it on the
        worker; the consent and history windows are refreshed afterwards."""
        from app.tray.rights import RightsActions

        if self.rights_actions is None:
            self.rights_actions = RightsActions(self.controller, self.product)
            self.rights_actions.finished.connect(self._after_rights)
        actions = self.rights_actions
        (actions.ask_reset if op == "reset" else actions.ask_forget)()
        return actions

    def _after_rights(self, _op: str) -> None:
        for name in ("consent", "history"):
            if name in self.open:
                self._refresh(name)

    # -- creation ---------------------------------------------------------------------------

    def _create(self, name: str) -> QWidget:
        factories: dict[str, Callable[[], QWidget]] = {
            "license": self._create_license,
            "consent": self._create_consent,
            "history": self._create_history,
            "about": self._create_about,
        }
        window = factories[name]()
        window.setWindowIcon(self.icons.app())
        return window

    def _create_about(self) -> QWidget:
        from PySide6.QtWidgets import QSystemTrayIcon

        from app.doctor.companion import doctor_report
        from app.tray.about import AboutWindow

        window = AboutWindow(self.product, self.state_dir, self.config_path, self.icons.app(),
                             self.texts)

        def wanted() -> None:
            tray = QSystemTrayIcon.isSystemTrayAvailable()  # asked here, on the GUI thread
            network = self.controller.current_network()
            self.controller.run(
                lambda c: doctor_report(c, tray_available=tray, network=network).to_text(),
                window.set_report, lambda error: window.set_report_failed(error.message),
                op="doctor")

        window.reportWanted.connect(wanted)
        return window

    def _create_license(self) -> QWidget:
        from app.tray.license_window import LicenseWindow

        window = LicenseWindow(self.product)

        def requested(op: str, arg: object) -> None:
            # Bound methods of the window: a destroyed window gets no answer.
            self.controller.license(op, arg, on_done=window.show_info,
                                    on_error=window.show_failure)

        window.requested.connect(requested)
        return window

    def _create_consent(self) -> QWidget:
        from app.tray.consent_window import ConsentWindow

        window = ConsentWindow(self.texts, self.product)
        window.previewWanted.connect(self._on_preview_wanted)
        window.decided.connect(self._on_decided)
        return window

    def _create_history(self) -> QWidget:
        from app.core import commands
        from app.tray.history_window import HistoryWindow

        window = HistoryWindow(self.texts, self.product)
        window.refreshWanted.connect(self._load_history)
        window.exportWanted.connect(
            lambda path: self.controller.run(lambda c: commands.export_history(c, path),
                                             window.export_done, op="export history"))
        return window

    def _refresh(self, name: str) -> None:
        if name == "license":
            self.open["license"].ask("info")  # type: ignore[attr-defined]
        elif name == "consent":
            self._load_consent()
        elif name == "history":
            self._load_history()
        elif name == "about":
            self.open["about"].ask_report()  # type: ignore[attr-defined]

    # -- consent ----------------------------------------------------------------------------

    def _load_consent(self) -> None:
        from app.core import commands

        self.controller.run(commands.consent_view, self._on_consent_view, op="consent view")

    def _on_preview_wanted(self, granted: list, reveal: bool) -> None:
        self._preview_token += 1
        token, cats = self._preview_token, tuple(granted)
        self.controller.run(
            lambda c: _preview_with_summaries(c, reveal, cats),
            lambda answer: self._on_preview(token, answer), op="preview", context=self)

    def _on_preview(self, token: int, answer: tuple) -> None:
        window = self.open.get("consent")
        if window is not None and token == self._preview_token:  # only the latest question
            previews, summaries = answer
            window.set_preview(list(previews), summaries)  # type: ignore[attr-defined]

    def _on_consent_view(self, view: ConsentView) -> None:
        window = self.open.get("consent")
        if window is not None:
            window.set_categories(  # type: ignore[attr-defined]
                list(view.states), view.do_not_track, version_changed=view.version_changed,
                version=view.version)

    def _on_decided(self, decision: dict) -> None:
        grant = [c for c, v in decision.items() if v == "granted"]
        deny = [c for c, v in decision.items() if v == "denied"]
        if grant:
            self.controller.grant(grant, self._on_consent_changed)
        if deny:
            self.controller.revoke(deny, self._on_consent_changed)

    def _on_consent_changed(self, _result: ConsentResult) -> None:
        if "consent" in self.open:
            self._load_consent()

    # -- license, history -------------------------------------------------------------------

    def _load_history(self) -> None:
        self.controller.run(lambda c: c.history(HISTORY_LIMIT), self._on_history, op="history")

    def _on_history(self, entries: list) -> None:
        window = self.open.get("history")
        if window is not None:
            window.set_entries(entries)  # type: ignore[attr-defined]

    def _refresh_history(self, _summary: object) -> None:
        if self.visible("history") is not None:
            self._load_history()

    def _on_failed(self, error: CommandError) -> None:
        log.warning("%s failed: %s", error.op, error.message)
