"""Character classes shared by validation and display: what may be stored, what must be escaped.

Text that came from a server, a config file or an event can hold control characters. Printed raw,
an ESC sequence retitles or clears the user's terminal, a bidi override makes ``exe.txt`` read
as ``txt.exe``, and a lone surrogate makes ``print`` itself fail. ``printable`` renders any such
text with those characters spelled out (``\\x1b``, ``\\u202e``), so the person reading it sees
what was sent and nothing can act on their terminal or window.
"""

from __future__ import annotations

# Explicit embeddings and overrides (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI):
# they reorder what follows them on screen.
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# Line and paragraph separators end a line in some terminals and widgets but not in others.
LINE_SEPARATORS = frozenset("\u2028\u2029")


def is_c0(ch: str) -> bool:
    """U+0000..U+001F, the ASCII controls (ESC, BEL, CR, NUL...)."""
    return ord(ch) < 0x20


def is_c1(ch: str) -> bool:
    """DEL and U+0080..U+009F; some terminals read U+009B as CSI, like ``ESC [``."""
    return 0x7F <= ord(ch) <= 0x9F


def is_surrogate(ch: str) -> bool:
    """A lone surrogate: what undecodable bytes become (``surrogateescape``); not a character."""
    return 0xD800 <= ord(ch) <= 0xDFFF


def is_unsafe(ch: str, *, keep_newlines: bool = False) -> bool:
    """Whether ``ch`` must not reach a terminal or a window as it is."""
    if keep_newlines and ch in "\n\t":
        return False
    return (is_c0(ch) or is_c1(ch) or is_surrogate(ch) or ch in BIDI_CONTROLS
            or ch in LINE_SEPARATORS)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` (anything; ``str()`` is taken) with every unsafe character spelled out.

    Args:
        text: what a server, a config file or an event said.
        keep_newlines: keep newline and tab as they are (multi-line bodies in a window);
            by default they are escaped too, so one message stays one line.

    Returns:
        The same text where C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line
        separators and lone surrogates read ``\\x1b``, ``\\u202e``, ``\\udcff``. Backslashes are
        left alone, so Windows paths stay readable.
    """
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():
        # Every unsafe character is a control, format, surrogate or separator character,
        # none of which ``isprintable`` passes: the common case, checked in C.
        return value
    if not any(is_unsafe(ch, keep_newlines=keep_newlines) for ch in value):
        return value  # the common case, without building a new string
    return "".join(_escape(ch) if is_unsafe(ch, keep_newlines=keep_newlines) else ch
                   for ch in value)
