"""Build the translation catalogs: the ``.pot`` template from the sources, ``.mo`` from ``.po``.

Why our own code and not msgfmt/Babel: the format is small and fixed, the standard library reads
the result, and the build needs nothing installed. ``python -m tools.i18n_catalog`` rewrites the
template and compiles every catalog; ``--check`` only says (exit 1) whether the committed files
are out of date, which the tests use.

Messages come from three places: the windows' texts in ``resources/texts/en.toml`` (the key is
the message context), calls of ``_``/``N_``/``ngettext`` with literal text in the modules listed
in ``SOURCES``, the explanations of request fields the consent window shows, and the words for
which rule decided a category.
"""

from __future__ import annotations

import ast
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.storage.texts import load_texts
from app.support.i18n import DOMAIN, locale_dir

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("app/tray/*.py", "app/core/tray_state.py", "app/core/status.py",
           "app/core/overall.py", "app/core/summary.py", "app/core/consent_view.py",
           "app/core/license.py",
           "app/cli/context.py", "app/cli/status.py", "app/cli/events.py", "app/cli/doctor.py",
           "app/doctor/*.py", "app/storage/keyring/*.py")
CALLS = {"_": 1, "N_": 1, "ngettext": 2}
HEADER = ("Project-Id-Version: license-companion\nMIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n")
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass
class Entry:
    """One message of a catalog."""

    msgid: str
    context: str = ""
    plural: str = ""
    strings: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def ident(self) -> tuple[str, str]:
        """What tells messages apart: (context, msgid)."""
        return self.context, self.msgid


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a text."""
    return set(PLACEHOLDER.findall(text))


# -- reading the sources ---------------------------------------------------------------------

def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def source_messages(root: Path = ROOT) -> list[Entry]:
    """Every message of the template, in a stable order."""
    found: dict[tuple[str, str], Entry] = {}

    def add(entry: Entry) -> None:
        found.setdefault(entry.ident, entry)

    for key, text in load_texts("en", root / "resources" / "texts").messages():
        if isinstance(text, tuple):
            add(Entry(text[0], key, text[1]))
        else:
            add(Entry(text, key))
    for pattern in SOURCES:
        for path in sorted(root.glob(pattern)):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in CALLS):
                    continue
                texts = [_literal(a) for a in node.args[:CALLS[node.func.id]]]
                if len(texts) == CALLS[node.func.id] and all(texts):
                    add(Entry(texts[0] or "", "", (texts[1] or "") if len(texts) > 1 else ""))
    from app.core.consent_view import EXTRA_MEANINGS, RULE_WORDS
    from app.core.preview import FIELD_MEANINGS
    for text in [*FIELD_MEANINGS.values(), *EXTRA_MEANINGS.values(), *RULE_WORDS.values()]:
        add(Entry(text))
    return list(found.values())


# -- the .po format --------------------------------------------------------------------------

def _quote(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def _unquote(text: str) -> str:
    body = text.strip()
    if not (body.startswith('"') and body.endswith('"')):
        raise ValueError(f"not a quoted string: {text!r}")
    out, i, inner = [], 0, body[1:-1]
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner):
            nxt = inner[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_po(text: str) -> tuple[str, list[Entry]]:
    """The header and the messages of a ``.po`` file (obsolete ``#~`` entries are skipped)."""
    entries: list[Entry] = []
    current: dict[str, str] = {}
    fuzzy = False
    last = ""

    def flush() -> None:
        nonlocal current, fuzzy
        if "msgid" in current:
            strings = [current[k] for k in sorted(current) if k.startswith("msgstr")]
            entries.append(Entry(current["msgid"], current.get("msgctxt", ""),
                                 current.get("msgid_plural", ""), strings, fuzzy))
        current, fuzzy = {}, False

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                if "msgid" in current:
                    flush()
                fuzzy = True
            continue
        if line.startswith('"'):
            current[last] += _unquote(line)
            continue
        keyword, _space, rest = line.partition(" ")
        has_strings = any(k.startswith("msgstr") for k in current)
        if keyword in ("msgctxt", "msgid") and "msgid" in current and (
                keyword == "msgctxt" or has_strings):
            flush()
        key = keyword.replace("[", "").replace("]", "") if keyword.startswith("msgstr[") \
            else keyword
        current[key] = _unquote(rest)
        last = key
    flush()
    header = next((e.strings[0] for e in entries if not e.msgid and not e.context), "")
    return header, [e for e in entries if e.msgid or e.context]


def write_po(entries: list[Entry], header: str = HEADER) -> str:
    """A ``.po`` (or, with empty strings, ``.pot``) file."""
    lines = ['msgid ""', f"msgstr {_quote(header)}", ""]
    for entry in entries:
        if entry.fuzzy:
            lines.append("#, fuzzy")
        if placeholders(entry.msgid + entry.plural):
            lines.append("#, python-brace-format")
        if entry.context:
            lines.append(f"msgctxt {_quote(entry.context)}")
        lines.append(f"msgid {_quote(entry.msgid)}")
        if entry.plural:
            lines.append(f"msgid_plural {_quote(entry.plural)}")
            strings = entry.strings or ["", ""]
            lines += [f"msgstr[{i}] {_quote(s)}" for i, s in enumerate(strings)]
        else:
            lines.append(f"msgstr {_quote(entry.strings[0] if entry.strings else '')}")
        lines.append("")
    return "\n".join(lines)


def write_mo(header: str, entries: list[Entry]) -> bytes:
    """The GNU ``.mo`` bytes for these messages (untranslated and fuzzy ones left out)."""
    pairs: dict[bytes, bytes] = {b"": header.encode("utf-8")}
    for entry in entries:
        if entry.fuzzy or not entry.strings or not all(entry.strings):
            continue
        key = entry.msgid
        if entry.plural:
            key += "\0" + entry.plural
        if entry.context:
            key = entry.context + "\x04" + key
        pairs[key.encode("utf-8")] = "\0".join(entry.strings).encode("utf-8")
    keys = sorted(pairs)
    ids = b"".join(k + b"\0" for k in keys)
    strs = b"".join(pairs[k] + b"\0" for k in keys)
    count = len(keys)
    start_ids = 7 * 4
    start_strs = start_ids + count * 8
    data_start = start_strs + count * 8
    id_table, str_table = [], []
    offset = data_start
    for k in keys:
        id_table.append((len(k), offset))
        offset += len(k) + 1
    for k in keys:
        str_table.append((len(pairs[k]), offset))
        offset += len(pairs[k]) + 1
    out = struct.pack("<7I", 0x950412DE, 0, count, start_ids, start_strs, 0, 0)
    out += b"".join(struct.pack("<2I", *pair) for pair in id_table)
    out += b"".join(struct.pack("<2I", *pair) for pair in str_table)
    return out + ids + strs


# -- the build -------------------------------------------------------------------------------

def po_files(folder: Path | None = None) -> dict[str, Path]:
    """Every shipped catalog: language -> ``.po`` path."""
    folder = folder or locale_dir()
    return {p.parents[1].name: p for p in sorted(folder.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))}


def build(check: bool = False, folder: Path | None = None) -> list[str]:
    """Write (or, with ``check``, compare) the template and every ``.mo``; the stale files."""
    folder = folder or locale_dir()
    stale: list[str] = []
    template = folder / f"{DOMAIN}.pot"
    wanted = {template: write_po(source_messages()).encode("utf-8")}
    for _lang, po in po_files(folder).items():
        header, entries = parse_po(po.read_text(encoding="utf-8"))
        wanted[po.with_suffix(".mo")] = write_mo(header, entries)
    for path, data in wanted.items():
        if path.exists() and path.read_bytes() == data:
            continue
        stale.append(str(path))
        if not check:
            path.write_bytes(data)
    return stale


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.i18n_catalog [--check]``."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    stale = build(check=check)
    for path in stale:
        print(("out of date: " if check else "wrote ") + path)
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
