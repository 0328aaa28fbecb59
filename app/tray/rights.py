"""The tray's "Reset my identifier…" and "Forget me…": a question naming what happens, then
the work on the worker thread (``app.core.rights``), then what was done and what was not.

Each question has Cancel as its default button: Enter or Escape changes nothing. The vendor's
privacy contact is read from the configuration on the worker before "Forget me…" asks, so the
question already says whom to ask about what the vendor's servers received.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QLocale, QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox

from app.model.text import printable
from app.support.i18n import N_, _, ngettext
from app.tray.qt_emit import emit

if TYPE_CHECKING:
    from app.core.results import CommandError
    from app.core.rights import Forgotten, IdentifierReset
    from app.tray.worker_controller import WorkerController

NOT_ON_SERVERS = N_("What the vendor's servers already received is not deleted: only the vendor "
                    "can delete it.")


def _contact_text(contact: str) -> str:
    if contact:
        return _("To have it deleted, ask the vendor: {contact}").format(
            contact=printable(contact))
    return _("The vendor named no privacy contact; see the product's privacy policy to ask "
             "the vendor to delete it.")


class RightsActions(QObject):
    """Asks, runs and reports the two actions for the tray's menu (owner: ``Windows``).

    Args:
        controller: the worker's GUI-side handle.
        product: the product's name, for the questions.

    Attributes:
        confirm_box: the question on screen (None when none is).
        result_box: the last answer shown (what was done; None before the first).

    Signals:
        finished(str): "reset" or "forget" was done (the owner refreshes its windows).
    """

    finished = Signal(str)

    def __init__(self, controller: WorkerController, product: str) -> None:
        super().__init__()
        self.controller = controller
        self.product = product
        self.confirm_box: QMessageBox | None = None
        self.result_box: QMessageBox | None = None

    # -- the questions ----------------------------------------------------------------------

    def ask_reset(self) -> None:
        """Ask whether to reset the identifier."""
        text = _("From now on {product} sends a new identifier for you, and the current one can "
                 "no longer be derived. Events waiting to be sent are deleted unsent. "
                 "Your license and its seat stay as they are.").format(product=self.product)
        self._ask("reset", _("Reset your identifier?"), text, _(NOT_ON_SERVERS),
                  _("Reset identifier"), self._reset)

    def ask_forget(self) -> None:
        """Read the vendor's privacy contact, then ask whether to forget the user."""
        self.controller.run(lambda c: c.config.product.privacy_contact, self._ask_forget,
                            self._failed, op="privacy contact", context=self)

    def _ask_forget(self, contact: str) -> None:
        text = _("Every kind of data is declined, so nothing is sent until you agree again; "
                 "the events waiting and the history are deleted; your identifier is reset. "
                 "This cannot be undone. Your license key stays (remove it in the License "
                 "window).")
        details = f"{_(NOT_ON_SERVERS)} {_contact_text(contact)}"
        self._ask("forget", _("Forget me?"), text, details, _("Forget me"), self._forget)

    def _ask(self, op: str, title: str, text: str, details: str, confirm: str,
             then: Callable[[], None]) -> None:
        if self.confirm_box is not None:
            self.confirm_box.raise_()
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, f"{text}\n\n{details}",
                          QMessageBox.StandardButton.Cancel)
        box.setObjectName(f"confirm-{op}")
        box.setTextFormat(Qt.TextFormat.PlainText)  # the contact is the vendor's text
        yes = box.addButton(confirm, QMessageBox.ButtonRole.DestructiveRole)
        yes.setObjectName(f"confirm-{op}-yes")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)

        def answered(_result: int) -> None:
            self.confirm_box = None
            box.deleteLater()
            if box.clickedButton() is yes:
                then()

        box.finished.connect(answered)
        self.confirm_box = box
        box.open()

    # -- the work ---------------------------------------------------------------------------

    def _reset(self) -> None:
        from app.core.rights import reset_identifier

        self.controller.worker.interrupt_sending()  # a round under way stops before its next
        self.controller.run(reset_identifier, self._reset_done, self._failed,
                            op="identity reset", context=self)

    def _forget(self) -> None:
        from app.core.rights import forget

        self.controller.worker.interrupt_sending()
        self.controller.run(forget, self._forget_done, self._failed, op="forget", context=self)

    def _reset_done(self, result: IdentifierReset) -> None:
        deleted = ngettext("{count} waiting event was deleted unsent.",
                           "{count} waiting events were deleted unsent.", result.removed
                           ).format(count=QLocale().toString(result.removed))
        self._show("reset", _("Identifier reset"),
                   _("A new identifier is sent from now on.") + " " + deleted, _(NOT_ON_SERVERS))
        emit(self.finished, "reset")

    def _forget_done(self, result: Forgotten) -> None:
        text = _("Forgotten on this computer: every kind of data is declined, the waiting "
                 "events and the history are deleted, and your identifier is reset.")
        self._show("forget", _("Forgotten"), text,
                   f"{_(NOT_ON_SERVERS)} {_contact_text(result.privacy_contact)}")
        emit(self.finished, "forget")

    def _failed(self, error: CommandError) -> None:
        self._show("failed", _("Nothing was changed"), printable(error.message), "",
                   QMessageBox.Icon.Warning)

    def _show(self, op: str, title: str, text: str, details: str,
              icon: QMessageBox.Icon = QMessageBox.Icon.Information) -> None:
        if self.result_box is not None:
            self.result_box.close()
            self.result_box.deleteLater()
        box = QMessageBox(icon, title, f"{text}\n\n{details}" if details else text,
                          QMessageBox.StandardButton.Ok)
        box.setObjectName(f"rights-{op}")
        box.setTextFormat(Qt.TextFormat.PlainText)
        self.result_box = box
        box.open()
