"""The License window: the key (masked), its status with the server, and the user's identifier.

Every keyring and network call goes through the worker (``WorkerController.license``); the
window only disables its buttons and shows a busy bar until ``show_info`` (or ``show_failure``)
answers, so a locked keyring or a slow server never freezes it.
"""

from __future__ import annotations

import html
import time

from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.license import LicenseState
from app.core.results import CommandError, LicenseInfo
from app.model.text import printable
from app.support.i18n import N_, _, ngettext
from app.tray import looks
from app.tray.qt_emit import emit

# English marked with N_ and translated where shown, so the catalog language of the moment wins.
STATE_WORDS = {
    LicenseState.VALID: (N_("Valid"), "good"),
    LicenseState.INVALID: (N_("Invalid"), "bad"),
    LicenseState.UNKNOWN: (N_("Unknown"), "unknown"),
    LicenseState.NO_KEY: (N_("No key entered"), "neutral"),
}
BUSY_WORDS = {
    "info": N_("Reading the keyring…"),
    "reveal": N_("Reading the keyring…"),
    "set": N_("Saving the key in the keyring and activating this computer…"),
    "clear": N_("Freeing this computer's seat and removing the key…"),
    "verify": N_("Asking the license server…"),
    "activate": N_("Activating this computer…"),
    "deactivate": N_("Freeing this computer's seat…"),
}
DONE_WORDS = {
    "set": N_("Key saved in the system keyring."),
    "clear": N_("Key removed."),
    "verify": N_("The license server answered."),
    "activate": N_("The license server answered."),
    "deactivate": N_("The license server answered."),
}
FREED_CODES = (400, 401)  # KeyManager's "deactivated"


def outcome_words(op: str, info: LicenseInfo) -> tuple[str, str]:
    """What the operation did, in words, and its colour: green only when it did what was asked.

    A saved key the server refused, or an activation it did not allow, is said as such (red),
    an answer that did not come as such (amber), each with the server's own words.
    """
    said = printable(info.message)
    if op == "clear":
        return _("Key removed."), "good"
    if op == "deactivate":
        if info.code in FREED_CODES:
            return _("This computer's seat was freed."), "good"
        if info.state == LicenseState.UNKNOWN:
            return _("The license server could not be asked: {why}").format(why=said), "warn"
        return _("The license server did not free the seat: {why}").format(why=said), "bad"
    if info.state == LicenseState.VALID:
        if op == "set":
            return _("Key saved and this computer activated."), "good"
        if op == "activate":
            return _("This computer is activated."), "good"
        return _("The license server confirmed the key."), "good"
    if info.state == LicenseState.INVALID:
        if op == "set":
            return _("Key saved, but the license server refused it: {why}").format(
                why=said), "bad"
        return _("The license server refused the key: {why}").format(why=said), "bad"
    if op == "set":
        return _("Key saved; the license server could not confirm it yet: {why}").format(
            why=said), "warn"
    return _("The license server could not be asked: {why}").format(why=said), "warn"


def age_words(checked_at: float | None, now: float) -> str:
    """``checked 5 minutes ago`` style, in the user's language and number format."""
    if not checked_at:
        return _("never checked with the server")
    seconds = max(0.0, now - checked_at)
    if seconds < 90:
        return _("checked just now")
    if seconds < 5400:
        count = round(seconds / 60)
        text = ngettext("checked {count} minute ago", "checked {count} minutes ago", count)
    elif seconds < 2 * 86400:
        count = round(seconds / 3600)
        text = ngettext("checked {count} hour ago", "checked {count} hours ago", count)
    else:
        count = round(seconds / 86400)
        text = ngettext("checked {count} day ago", "checked {count} days ago", count)
    return text.format(count=QLocale().toString(count))


def _plain(text: str) -> str:
    """A label's text without its mnemonic marker, for screen readers."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def available_for_entry(info: LicenseInfo) -> bool:
    """Whether a key can be typed in now."""
    return info.available and not info.internal_error


class LicenseWindow(QWidget):
    """Non-modal window to enter, replace, remove and check the license key.

    Args:
        product: the product's name.
        parent: optional parent (the window stays top-level).

    Signals:
        requested(str, object): the user asked for a license operation (``info``, ``reveal``,
            ``set`` with the raw key, ``clear``, ``verify``, ``activate``, ``deactivate``); the
            owner forwards it to the worker and calls ``show_info`` with the answer.
    """

    requested = Signal(str, object)

    def __init__(self, product: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("license-window")
        self.setWindowTitle(_("License — {product}").format(product=product))
        self.product = product
        self.info: LicenseInfo | None = None
        self.busy_op = ""
        self._revealed = False

        outer = QVBoxLayout(self)
        form = QFormLayout()
        self.product_label = QLabel(product)
        self.product_label.setObjectName("product")
        self._row(form, _("Product:"), self.product_label, self.product_label)
        key_row = QHBoxLayout()
        self.key_label = QLabel("—")
        self.key_label.setObjectName("key")
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        key_row.addWidget(self.key_label, 1)
        self.reveal_button = QPushButton(_("Re&veal"))
        self.reveal_button.setToolTip(_("Show the license key in clear"))
        self.reveal_button.setObjectName("reveal")
        self.reveal_button.setCheckable(True)
        self.reveal_button.toggled.connect(self._on_reveal)
        key_row.addWidget(self.reveal_button)
        self._row(form, _("License key:"), key_row, self.key_label)
        self.status_label = QLabel("—")
        self.status_label.setObjectName("status")
        self.status_label.setWordWrap(True)
        self._row(form, _("Status:"), self.status_label, self.status_label)
        self.identifier_label = QLabel("—")
        self.identifier_label.setObjectName("identifier")
        self.identifier_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.identifier_label.setToolTip(
            _("A random-looking code that stays the same for you on this computer; it does not "
              "contain your name or the computer's id."))
        self._row(form, _("Your identifier:"), self.identifier_label, self.identifier_label)
        outer.addLayout(form)

        entry = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("new-key")
        self.key_edit.setPlaceholderText(_("Paste your license key here"))
        self.key_edit.setAccessibleName(_("New license key"))
        self.key_edit.setAccessibleDescription(_("Paste your license key here"))
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.returnPressed.connect(self._on_save)
        self.key_edit.textChanged.connect(self._update_buttons)
        entry.addWidget(self.key_edit, 1)
        self.show_entry = QCheckBox(_("Sho&w"))
        self.show_entry.setObjectName("show-entry")
        self.show_entry.setToolTip(_("Show what you typed or pasted"))
        self.show_entry.toggled.connect(lambda on: self.key_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        self.show_entry.setAccessibleName(_plain(self.show_entry.text()))
        self.show_entry.setAccessibleDescription(self.show_entry.toolTip())
        entry.addWidget(self.show_entry)
        self.save_button = QPushButton(_("&Save and activate"))
        self.save_button.setObjectName("save")
        self.save_button.clicked.connect(self._on_save)
        entry.addWidget(self.save_button)
        outer.addLayout(entry)

        actions = QHBoxLayout()
        self.verify_button = QPushButton(_("&Check now"))
        self.verify_button.setToolTip(_("Ask the license server whether the key is valid"))
        self.activate_button = QPushButton(_("&Activate this computer"))
        self.activate_button.setToolTip(_("Take one of the license's seats for this computer"))
        self.deactivate_button = QPushButton(_("&Free this computer's seat"))
        self.deactivate_button.setToolTip(
            _("Use this before moving the license to another computer"))
        self.clear_button = QPushButton(_("&Remove key"))
        self.clear_button.setToolTip(
            _("Free this computer's seat and delete the key from the keyring"))
        for name, button, op in (("verify", self.verify_button, "verify"),
                                 ("activate", self.activate_button, "activate"),
                                 ("deactivate", self.deactivate_button, "deactivate")):
            button.setObjectName(name)
            button.clicked.connect(lambda _=False, op=op: self.ask(op))
            actions.addWidget(button)
        self.clear_button.setObjectName("clear")
        self.clear_button.clicked.connect(self._confirm_clear)
        actions.addWidget(self.clear_button)
        self.confirm_box: QMessageBox | None = None
        actions.addStretch(1)
        outer.addLayout(actions)

        self.progress = QProgressBar()
        self.progress.setObjectName("busy")
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.setAccessibleName(_("Working…"))
        self.progress.hide()
        outer.addWidget(self.progress)
        self.feedback = QLabel("")
        self.feedback.setObjectName("feedback")
        self.feedback.setWordWrap(True)
        self.feedback.setTextFormat(Qt.TextFormat.PlainText)  # carries the server's words
        self.feedback.setAccessibleName(_("Result"))
        outer.addWidget(self.feedback)
        outer.addStretch(1)
        for button in (self.reveal_button, self.save_button, self.verify_button,
                       self.activate_button, self.deactivate_button, self.clear_button):
            button.setAccessibleName(_plain(button.text()))
            button.setAccessibleDescription(button.toolTip())
        self.save_button.setToolTip(_("Store the key in the system keyring and activate it"))
        self.save_button.setAccessibleDescription(self.save_button.toolTip())
        self.setTabOrder(self.key_edit, self.save_button)
        self.setTabOrder(self.save_button, self.verify_button)
        looks.fit_to_screen(self, 620, 300)
        self._update_buttons()

    # -- commands -----------------------------------------------------------------------------

    def ask(self, op: str, arg: object = None) -> None:
        """Start a license operation; the window is busy until ``show_info``."""
        if self.busy_op:
            return
        self.busy_op = op
        self.progress.show()
        self.feedback.setStyleSheet("")
        self.feedback.setText(_(BUSY_WORDS[op]) if op in BUSY_WORDS else _("Working…"))
        self._update_buttons()
        emit(self.requested, op, arg)

    def _on_save(self) -> None:
        raw = self.key_edit.text()
        if raw.strip():
            self.ask("set", raw)

    def _confirm_clear(self) -> None:
        """Ask before the key goes: it cannot be undone, and the seat is freed first."""
        box = QMessageBox(QMessageBox.Icon.Question, _("Remove the license key?"),
                          _("The key is deleted from this computer's keyring. While online, "
                            "this computer's seat is freed first, so the license can be used "
                            "on another computer."), QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirm-clear")
        remove = box.addButton(_("Free the seat and remove the key"),
                               QMessageBox.ButtonRole.DestructiveRole)
        remove.setObjectName("confirm-remove")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)  # Enter never removes
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._cleared(box, box.clickedButton() is remove))
        self.confirm_box = box
        box.open()

    def _cleared(self, box: QMessageBox, confirmed: bool) -> None:
        self.confirm_box = None
        box.deleteLater()
        if confirmed:
            self.ask("clear")

    def _on_reveal(self, checked: bool) -> None:
        self.reveal_button.setText(_("&Hide") if checked else _("Re&veal"))
        self.reveal_button.setAccessibleName(_plain(self.reveal_button.text()))
        if checked:
            self.ask("reveal")
        else:
            self._revealed = False
            self._show_key()

    # -- data in ------------------------------------------------------------------------------

    def show_info(self, info: LicenseInfo, now: float | None = None) -> None:
        """Show an answer from the worker and end the busy state."""
        op, self.busy_op = self.busy_op, ""
        self.progress.hide()
        self.info = info
        now = time.time() if now is None else now
        self._revealed = op == "reveal" and bool(info.revealed_key)
        if op == "reveal" and not info.revealed_key:
            self.reveal_button.setChecked(False)
        self._show_key()
        english, colour_name = STATE_WORDS.get(info.state, (info.state.capitalize(), "neutral"))
        words = _(english)
        colour = looks.colour(colour_name, self)
        if not info.available:
            self.status_label.setText(html.escape(_("License management is not available.")))
        else:
            detail = ""
            if info.state != LicenseState.NO_KEY:
                detail = f" — {info.message}" if info.message else ""
                detail += f" ({age_words(info.checked_at, now)})"
            # Rich text for the coloured word; the server's message is escaped, never markup.
            self.status_label.setText(
                f'<b style="color:{colour}">{html.escape(words)}</b>{html.escape(printable(detail))}')
        self.status_label.setAccessibleName(_("Status:").rstrip(":： "))
        self.status_label.setAccessibleDescription(
            words + (f"{detail}" if info.available else ""))
        self.identifier_label.setText(info.user_identifier or "—")
        if info.error:
            self.feedback.setStyleSheet(f"color: {looks.colour('bad', self)}")
            self.feedback.setText(printable(" ".join(filter(None, (info.notice, info.error)))))
        elif op in DONE_WORDS:
            # What the server said, and the previous key's seat: freed, or still taken (a
            # warning, with how to free it).
            words, tone = outcome_words(op, info)
            if info.seat_kept and tone == "good":
                tone = "warn"
            self.feedback.setStyleSheet(f"color: {looks.colour(tone, self)}")
            self.feedback.setText(printable(" ".join(filter(None, (words, info.notice)))))
            if op == "set":
                self.key_edit.clear()
        else:
            self.feedback.setText("")
        self._update_buttons()
        if available_for_entry(info) and not info.masked_key:
            self.key_edit.setFocus()  # a new user's next step: paste the key

    def show_failure(self, error: CommandError) -> None:
        """The operation ended without an answer (the worker is not running, or a defect): say so
        and end the busy state, so the window is never left waiting."""
        if self.busy_op == "reveal":
            self.reveal_button.setChecked(False)
        self.busy_op = ""
        self.progress.hide()
        self.feedback.setStyleSheet(f"color: {looks.colour('bad', self)}")
        self.feedback.setText(printable(error.message))
        self._update_buttons()

    def _show_key(self) -> None:
        info = self.info
        if info is None:
            self.key_label.setText("—")
        elif self._revealed:
            self.key_label.setText(info.revealed_key)
        else:
            self.key_label.setText(info.masked_key or _("none entered"))

    def _update_buttons(self) -> None:
        busy = bool(self.busy_op)
        info = self.info
        available = bool(info and info.available)
        has_key = bool(info and info.masked_key)
        self.save_button.setEnabled(available and not busy and bool(self.key_edit.text().strip()))
        self.key_edit.setEnabled(available and not busy)
        for button in (self.verify_button, self.activate_button, self.deactivate_button,
                       self.clear_button):
            button.setEnabled(available and has_key and not busy)
        self.reveal_button.setEnabled(available and has_key and not busy)
        self.save_button.setText(_("Re&place and activate") if has_key else _("&Save and activate"))
        self.save_button.setAccessibleName(_plain(self.save_button.text()))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape closes the window (keys a child did not use end up here)."""
        if event.key() == Qt.Key.Key_Escape:
            self.close()
        else:
            super().keyPressEvent(event)

    @staticmethod
    def _row(form: QFormLayout, label: str, field: object, buddy: QWidget) -> None:
        """A form row whose label names its field for screen readers."""
        caption = QLabel(label)
        caption.setBuddy(buddy)
        form.addRow(caption, field)  # type: ignore[call-overload]
        buddy.setAccessibleName(label.rstrip(":： "))

    def closeEvent(self, event: QCloseEvent) -> None:
        """Forget a revealed key when the window closes."""
        self._revealed = False
        self.reveal_button.setChecked(False)
        self._show_key()
        super().closeEvent(event)
