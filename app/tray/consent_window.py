"""The consent window: what each kind of data is, the exact requests, and the user's choice.

The window only shows data it is given and reports what the user did; it never builds a request.
Whoever owns it (the tray's worker; tests/ui/controllers.py for tests) answers
``previewWanted`` with ``set_preview(Companion.preview(...))`` — the backends' own ``prepare`` —
so what is shown is what would be sent. Closing the window decides nothing.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QLocale, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFontDatabase, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import preview as preview_fmt
from app.core.consent import CategoryState
from app.core.consent_view import field_meanings
from app.core.tray_state import reason_words
from app.model.consent import Choice, DecidedBy
from app.model.text import printable
from app.storage.texts import Texts
from app.support.i18n import _, ngettext, vendor_text
from app.tray import looks
from app.tray.qt_emit import emit

if TYPE_CHECKING:
    from app.core.companion_types import BackendPreview

DEBOUNCE_MS = 150
GRANTED, DENIED = Choice.GRANTED.value, Choice.DENIED.value

SECTION_STYLE = "QLabel { font-weight: bold; padding-top: 4px; }"


def _escape_mnemonic(text: str) -> str:
    """A vendor's "R&D" must show as "R&D", not underline the D."""
    return text.replace("&", "&&")


def _code_view(name: str) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setObjectName(name)
    view.setReadOnly(True)
    view.setTabChangesFocus(True)  # Tab leaves the text instead of being swallowed
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    return view


class _CategoryRow(QWidget):
    """One category: the switch (a checkbox), its description and the current decision."""

    def __init__(self, index: int, state: CategoryState, texts: Texts) -> None:
        super().__init__()
        self.category_id = state.category.id
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 8)
        layout.setSpacing(2)
        self.title = title = printable(vendor_text(state.category.title))
        about = printable(vendor_text(state.category.description))
        label = texts("consent.switch_label", title=_escape_mnemonic(title))
        self.switch = QCheckBox(label)
        # Alt+<position> toggles the switch; the digit is not printed in the label.
        self.shortcut = QShortcut(QKeySequence(f"Alt+{index}"), self, self.switch.click)
        self.switch.setObjectName(f"switch-{state.category.id}")
        self.switch.setChecked(state.decision.choice is Choice.GRANTED)
        self.switch.setAccessibleName(texts("consent.switch_label", title=title))
        bold = self.switch.font()
        bold.setBold(True)
        self.switch.setFont(bold)
        layout.addWidget(self.switch)
        description = QLabel(about)
        description.setObjectName("description")
        description.setAccessibleName(title)
        description.setAccessibleDescription(about)
        description.setWordWrap(True)
        description.setIndent(22)
        layout.addWidget(description)
        words = {
            Choice.GRANTED: texts("consent.state_granted"),
            Choice.DENIED: texts("consent.state_denied"),
            Choice.UNDECIDED: texts("consent.state_undecided"),
        }[state.decision.choice]
        if state.reason and state.effective is not state.decision.choice:
            words = texts("consent.state_overridden", choice=words, reason=printable(state.reason))
        # Locked by the administrator: the user cannot allow it here (withdrawing a grant
        # still works, so a granted switch under a lock stays usable to switch it off).
        self.policy_locked = state.locked
        self.locked = state.locked and state.effective is not Choice.GRANTED
        if state.decided_by is DecidedBy.POLICY:
            self.switch.setChecked(False)
        if self.locked:
            self.switch.setEnabled(False)
            self.switch.setToolTip(texts("policy.locked_tooltip"))
            words = (texts("policy.locked_reason", reason=printable(state.reason)) if state.reason
                     else texts("policy.locked_label"))
        self.state_label = QLabel(f"<i>{html.escape(words)}</i>")
        self.state_label.setObjectName(f"state-{state.category.id}")
        self.state_label.setIndent(22)
        self.state_label.setStyleSheet(looks.text_style("muted", self))
        self.state_label.setAccessibleName(words)
        self.state_label.setAccessibleDescription(title)
        self.switch.setAccessibleDescription(
            texts("consent.switch_description", description=about, state=words))
        layout.addWidget(self.state_label)


class _BackendPane(QWidget):
    """One backend's preview: status, "will be sent", "will not be sent", what the fields mean."""

    def __init__(self, preview: BackendPreview, texts: Texts,
                 titles: dict[str, str] | None = None, summary: str = "") -> None:
        super().__init__()
        titles = titles or {}
        self.backend = preview.backend
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(2)
        self.summary = QLabel(printable(summary))  # the plain words, above the exact requests
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setVisible(bool(summary))
        layout.addWidget(self.summary)

        lines = [texts("consent.queued", count=preview.queued)]
        if preview.problem:
            lines.append(texts("consent.problem", problem=printable(reason_words(preview.problem))))
        for category, count in sorted(preview.held_back.items()):
            lines.append(texts("consent.held_because", count=count,
                               category=printable(titles.get(category, category))))
        self.status = QLabel("\n".join(lines))
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.status.setAccessibleName(preview.title)
        self.status.setAccessibleDescription(self.status.text())
        layout.addWidget(self.status)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        self.send_view, send_box = self._section(
            texts("consent.will_send", count=len(preview.requests)),
            looks.text_style("good", self, bold=True, top=4),
            "will-send", preview.requests, texts,
        )
        self.hold_view, hold_box = self._section(
            texts("consent.will_not_send", count=len(preview.held_requests)),
            looks.text_style("bad", self, bold=True, top=4),
            "will-not-send", preview.held_requests, texts,
        )
        splitter.addWidget(send_box)
        splitter.addWidget(hold_box)

        meanings = field_meanings([*preview.requests, *preview.held_requests])
        self.meanings = QLabel()
        self.meanings.setObjectName("meanings")
        self.meanings.setWordWrap(True)
        self.meanings.setTextFormat(Qt.TextFormat.RichText)
        self.meanings.setText(
            "".join(f"<b>{html.escape(name)}</b>: {html.escape(_(text))}<br>"
                    for name, text in meanings)
            or html.escape(texts("consent.nothing_queued"))
        )
        self.meanings.setAccessibleName(texts("consent.meanings_heading"))
        self.meanings.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.meanings.setContentsMargins(4, 4, 4, 4)
        scroll = QScrollArea()
        scroll.setWidget(self.meanings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        meaning_box = QWidget()
        box = QVBoxLayout(meaning_box)
        box.setContentsMargins(0, 0, 0, 0)
        heading = QLabel(texts("consent.meanings_heading"))
        heading.setStyleSheet(SECTION_STYLE)
        box.addWidget(heading)
        box.addWidget(scroll)
        splitter.addWidget(meaning_box)
        # An empty section ("Nothing.") needs little room; give it to the one with requests.
        splitter.setSizes([300 if preview.requests else 70,
                           260 if preview.held_requests else 70, 160])
        layout.addWidget(splitter, 1)

    @staticmethod
    def _section(
        title: str, style: str, name: str, requests: Sequence[object], texts: Texts
    ) -> tuple[QPlainTextEdit, QWidget]:
        holder = QWidget()
        box = QVBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        heading = QLabel(title)
        heading.setStyleSheet(style)
        view = _code_view(name)
        view.setAccessibleName(title)
        view.setAccessibleDescription(texts("consent.preview_heading"))
        heading.setBuddy(view)
        text = "\n\n".join(preview_fmt.render(r) for r in requests)  # type: ignore[arg-type]
        view.setPlainText(printable(text, keep_newlines=True) or texts("consent.no_requests"))
        box.addWidget(heading)
        box.addWidget(view, 1)
        return view, holder


class ConsentWindow(QWidget):
    """Non-modal window where the user decides, per category, what may be sent.

    Args:
        texts: the user-visible texts (``resources/texts/<lang>.toml``).
        product: the product's name, for the title and intro.
        parent: optional parent widget (the window stays a top-level window).

    Signals:
        previewWanted(list, bool): the switches or the reveal toggle changed (debounced): the
            owner should call ``set_preview`` with ``Companion.preview(reveal, granted=list)``.
        decided(dict): the user pressed one of the three buttons; category id -> "granted" or
            "denied" for every category. Never emitted when the window is just closed.
    """

    previewWanted = Signal(list, bool)
    decided = Signal(dict)

    def __init__(self, texts: Texts, product: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.texts = texts
        texts.number = lambda n: QLocale().toString(n)
        self.product = product or _("this product")
        self.setObjectName("consent-window")
        self.setWindowTitle(texts("consent.window_title", product=self.product))
        self.setWindowModality(Qt.WindowModality.NonModal)
        looks.fit_to_screen(self, 1100, 760)
        self._held: dict[str, int] = {}  # category -> events held back now (the preview's)
        self.confirm_box: QMessageBox | None = None
        self._rows: list[_CategoryRow] = []
        self._panes: list[_BackendPane] = []
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.flush_preview)

        outer = QVBoxLayout(self)
        intro = QLabel(texts("consent.intro", product=self.product))
        intro.setWordWrap(True)
        outer.addWidget(intro)
        self.dnt_banner = QLabel(texts("consent.dnt_banner"))
        self.dnt_banner.setObjectName("dnt-banner")
        self.dnt_banner.setWordWrap(True)
        self.dnt_banner.setStyleSheet(looks.banner_style(self))
        self.dnt_banner.setAccessibleName(self.dnt_banner.text())
        self.dnt_banner.hide()
        outer.addWidget(self.dnt_banner)
        self.policy_banner = QLabel()
        self.policy_banner.setObjectName("policy-banner")
        self.policy_banner.setWordWrap(True)
        self.policy_banner.setStyleSheet(looks.banner_style(self))
        self.policy_banner.hide()
        outer.addWidget(self.policy_banner)
        self.version_banner = QLabel()
        self.version_banner.setObjectName("version-banner")
        self.version_banner.setWordWrap(True)
        self.version_banner.setStyleSheet(looks.banner_style(self))
        self.version_banner.hide()
        outer.addWidget(self.version_banner)

        body = QSplitter(Qt.Orientation.Horizontal)
        body.setChildrenCollapsible(False)
        self.categories_box = QGroupBox(texts("consent.categories_heading"))
        self._categories_layout = QVBoxLayout(self.categories_box)
        self._categories_layout.addStretch(1)
        body.addWidget(self.categories_box)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        heading = QLabel(texts("consent.preview_heading"))
        heading.setStyleSheet(SECTION_STYLE)
        head.addWidget(heading, 1)
        self.reveal = QCheckBox(texts("consent.reveal"))
        self.reveal.setObjectName("reveal")
        self.reveal.setToolTip(texts("consent.reveal_tooltip"))
        self.reveal.setAccessibleName(texts("consent.reveal").replace("&", ""))
        self.reveal.setAccessibleDescription(texts("consent.reveal_tooltip"))
        self.reveal.toggled.connect(self._schedule_preview)
        head.addWidget(self.reveal)
        right_layout.addLayout(head)
        self.masked_note = QLabel(texts("consent.masked_note"))
        self.masked_note.setStyleSheet(looks.text_style("muted", self))
        self.masked_note.setWordWrap(True)
        right_layout.addWidget(self.masked_note)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("preview-tabs")
        self.tabs.setAccessibleName(texts("consent.preview_heading"))
        right_layout.addWidget(self.tabs, 1)
        body.addWidget(right)
        body.setStretchFactor(0, 0)
        body.setStretchFactor(1, 1)
        body.setSizes([330, 770])
        outer.addWidget(body, 1)

        buttons = QHBoxLayout()
        self.allow_selected = QPushButton(texts("consent.allow_selected"))
        self.allow_all = QPushButton(texts("consent.allow_all"))
        self.deny_all = QPushButton(texts("consent.deny_all"))
        self.close_button = QPushButton(texts("consent.close"))
        self.close_button.setToolTip(texts("consent.close_tooltip"))
        self.close_button.setAccessibleDescription(texts("consent.close_tooltip"))
        self.allow_selected.setAccessibleDescription(texts("consent.allow_selected_tooltip"))
        self.allow_all.setAccessibleDescription(texts("consent.allow_all_tooltip"))
        self.deny_all.setAccessibleDescription(texts("consent.deny_all_tooltip"))
        for name, button in (("allow-selected", self.allow_selected),
                             ("allow-all", self.allow_all), ("deny-all", self.deny_all),
                             ("close", self.close_button)):
            button.setObjectName(name)
            button.setAutoDefault(False)
            button.setAccessibleName(button.text().replace("&", ""))
        # The default button never decides for the user: Enter on nothing closes the window.
        self.close_button.setDefault(True)
        self.allow_selected.clicked.connect(self._on_allow_selected)
        self.allow_all.clicked.connect(lambda: self._decide(all_granted=True))
        self.deny_all.clicked.connect(lambda: self._decide(all_granted=False))
        self.close_button.clicked.connect(self.close)
        buttons.addWidget(self.deny_all)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.allow_selected)
        buttons.addWidget(self.allow_all)
        outer.addLayout(buttons)

    # data in ---------------------------------------------------------------------------

    def set_categories(
        self,
        states: Sequence[CategoryState],
        do_not_track: bool,
        version_changed: bool = False,
        version: int | None = None,
    ) -> None:
        """Show the categories with their stored decisions (undecided ones start switched off).

        Args:
            states: ``ConsentPolicy.states()``.
            do_not_track: show the banner explaining why nothing is sent.
            version_changed: the vendor bumped the consent version since the user decided.
            version: the current consent version (for the banner).
        """
        for row in self._rows:
            self._categories_layout.removeWidget(row)
            row.deleteLater()
        self._rows = []
        for index, state in enumerate(states, start=1):
            row = _CategoryRow(index, state, self.texts)
            row.switch.toggled.connect(self._schedule_preview)
            self._categories_layout.insertWidget(index - 1, row)
            self._rows.append(row)
        self.dnt_banner.setVisible(do_not_track)
        by_policy = [st for st in states if st.decided_by is DecidedBy.POLICY or st.locked]
        reason = next((st.reason for st in by_policy if st.reason), "")
        self.policy_banner.setText(self.texts("policy.banner", policy=reason)
                                   if reason else self.texts("policy.locked_label"))
        self.policy_banner.setAccessibleName(self.policy_banner.text())
        self.policy_banner.setVisible(bool(by_policy))
        can_allow = any(not row.locked for row in self._rows)
        self.allow_all.setEnabled(can_allow)
        self.allow_selected.setEnabled(can_allow)
        self.version_banner.setText(
            self.texts("consent.version_banner", product=self.product, version=version or "")
        )
        self.version_banner.setAccessibleName(self.version_banner.text())
        self.version_banner.setVisible(version_changed and not do_not_track)
        self._fix_tab_order()
        self._schedule_preview()

    def set_preview(self, previews: Sequence[BackendPreview],
                    summaries: Mapping[str, str] | None = None) -> None:
        """Show the requests ``Companion.preview`` built, one tab per backend, each under its
        plain summary (``summary.summaries``, built with the previews off the GUI thread)."""
        self._held = {}
        for backend_preview in previews:  # the events, once, whichever backend holds them
            for category, count in backend_preview.held_back.items():
                self._held[category] = max(self._held.get(category, 0), count)
        current = self.tabs.currentIndex()
        self.tabs.clear()
        for pane in self._panes:
            pane.deleteLater()
        self._panes = []
        for preview in previews:
            pane = _BackendPane(preview, self.texts, self._titles(),
                                (summaries or {}).get(preview.backend, ""))
            self._panes.append(pane)
            label = self.texts("consent.tab_label", title=vendor_text(preview.title),
                               send=len(preview.requests), held=len(preview.held_requests))
            self.tabs.addTab(pane, label)
        if 0 <= current < self.tabs.count():
            self.tabs.setCurrentIndex(current)
        self._fix_tab_order()

    def _titles(self) -> dict[str, str]:
        """Category id -> its title as shown (the preview names held-back categories)."""
        return {row.category_id: row.title for row in self._rows}

    # what the user chose --------------------------------------------------------------

    def category_ids(self) -> list[str]:
        """Every category shown, in order."""
        return [row.category_id for row in self._rows]

    def selected(self) -> list[str]:
        """The categories switched on now."""
        return [row.category_id for row in self._rows if row.switch.isChecked()]

    def switch(self, category_id: str) -> QCheckBox:
        """The switch of one category."""
        for row in self._rows:
            if row.category_id == category_id:
                return row.switch
        raise KeyError(category_id)

    def state_text(self, category_id: str) -> str:
        """The stored decision shown under a category, in words."""
        for row in self._rows:
            if row.category_id == category_id:
                return row.state_label.text()
        raise KeyError(category_id)

    def preview_text(self, backend: str, section: str = "will-send") -> str:
        """The text shown for one backend (``"will-send"`` or ``"will-not-send"``)."""
        for pane in self._panes:
            if pane.backend == backend:
                view = pane.send_view if section == "will-send" else pane.hold_view
                return view.toPlainText()
        raise KeyError(backend)

    def flush_preview(self) -> None:
        """Ask for the preview now instead of after the debounce delay."""
        self._debounce.stop()
        emit(self.previewWanted, self.selected(), self.reveal.isChecked())

    # internals ------------------------------------------------------------------------

    def _schedule_preview(self) -> None:
        self._debounce.start()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape closes; Enter presses the focused button, or else Close."""
        if event.key() == Qt.Key.Key_Escape:
            self.close()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._on_enter()
        else:
            super().keyPressEvent(event)

    def _on_enter(self) -> None:
        """Enter presses the focused button, or else the default one (Close: no decision)."""
        focused = self.focusWidget()
        button = focused if isinstance(focused, QPushButton) else self.close_button
        if button.isEnabled():
            button.click()

    def _on_allow_selected(self) -> None:
        decision = {}
        for row in self._rows:
            if not row.switch.isChecked():
                decision[row.category_id] = DENIED
            elif not row.policy_locked:  # a grant kept under a lock is left as it is
                decision[row.category_id] = GRANTED
        self._emit_decision(decision)

    def _decide(self, all_granted: bool) -> None:
        decision = {}
        for row in self._rows:
            on = all_granted and not row.locked  # a locked switch is never granted
            row.switch.blockSignals(True)
            row.switch.setChecked(on)
            row.switch.blockSignals(False)
            decision[row.category_id] = GRANTED if on else DENIED
        self._emit_decision(decision)

    def _emit_decision(self, decision: dict[str, str]) -> None:
        self._debounce.stop()
        doomed = sum(self._held.get(cat, 0) for cat, choice in decision.items()
                     if choice == DENIED)
        if not doomed:
            emit(self.decided, decision)
            return
        # Declining deletes what waits of those categories: ask first, Cancel by default.
        box = QMessageBox(QMessageBox.Icon.Warning, _("Delete held events?"), ngettext(
            "{count} held event will be deleted and never sent.",
            "{count} held events will be deleted and never sent.", doomed).format(
                count=QLocale().toString(doomed)), QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirm-decline")
        delete = box.addButton(_("Decline and delete"), QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirm-delete")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def answered(_result: int) -> None:
            self.confirm_box = None
            box.deleteLater()
            if box.clickedButton() is delete:
                emit(self.decided, decision)

        box.finished.connect(answered)
        self.confirm_box = box
        box.open()

    def _fix_tab_order(self) -> None:
        """Switches top to bottom, then reveal, the preview, and the buttons in visual order."""
        chain: list[QWidget] = [row.switch for row in self._rows]
        chain += [self.reveal, self.tabs]
        for pane in self._panes:
            chain += [pane.send_view, pane.hold_view]
        chain += [self.deny_all, self.close_button, self.allow_selected, self.allow_all]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing is not a decision: nothing is emitted and nothing is stored."""
        self._debounce.stop()
        super().closeEvent(event)
