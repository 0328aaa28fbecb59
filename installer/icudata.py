"""Qt's ICU data cut down to what Qt calls it for, for the Linux onedir build.

PySide6's Linux wheel ships ICU 73 with the full data library (``libicudata.so.73``, ~30 MiB:
every locale's names of currencies, units, languages and regions, break-iterator dictionaries,
transliterators, ~200 legacy code pages). QtCore links to ICU and calls it for four things only:
case mapping (built into libicuuc, no data), collation (``ucol_*``), time-zone names
(``ucal_*``) and legacy text codecs (``ucnv_*``); Qt formats numbers and dates from its own
CLDR tables. This module keeps the ICU "common data" items those calls read in the root and
English locales (ICU falls back to root for any other locale) and writes a new data library
exporting the same symbol, so the stock libicuuc loads it unchanged.

The common data format (ICU's ``udata.cpp`` and ``pkgdata``): a data header (``CmnD``), a
table of contents ``count, (nameOffset, dataOffset) * count`` sorted by name, the names, then
the items, each 16-byte aligned; offsets count from the start of the table. Stdlib only: the
spec runs it inside PyInstaller, ``python installer/icudata.py LIB OUT`` runs it by hand.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Trees whose items are read by collation and time-zone names; "" is the top level (locale
# metadata, likely subtags, the converter alias table, normalization and property data).
KEEP_TREES = frozenset({"", "coll", "zone"})
# Locale bundles kept in those trees: root (every lookup's last fallback) and English.
KEEP_LOCALES = frozenset({"root", "en", "en_US", "en_US_POSIX", "en_001"})
# A locale bundle's name: "de", "de_AT", "zh_Hant_TW", "sr_Latn"... (res_index is not one).
LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]*)*$")
ALIGN = 16


def keep_item(name: str) -> bool:
    """Whether an item (``icudt73l/zone/de.res``, name after the package prefix) stays."""
    parts = name.split("/", 1)[1].split("/") if "/" in name else [name]
    tree = "/".join(parts[:-1])
    stem, _dot, ext = parts[-1].rpartition(".")
    if tree not in KEEP_TREES or ext == "cnv":  # code pages: only the built-in UTF/Latin-1 stay
        return False
    if ext == "res" and LOCALE.match(stem) and stem != "res_index":
        return stem in KEEP_LOCALES
    return True


def parse(blob: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The header and the ``(name, item)`` pairs of an ICU common data package."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD" or blob[8] != 0:
        raise ValueError("not a little-endian ICU common data package (CmnD)")
    toc = blob[header_size:]
    (count,) = struct.unpack_from("<I", toc, 0)
    entries = [struct.unpack_from("<II", toc, 4 + 8 * i) for i in range(count)]
    ends = [offset for _n, offset in entries[1:]] + [len(toc)]
    items = []
    for (name_at, data_at), end in zip(entries, ends, strict=True):
        name = toc[name_at:toc.index(b"\0", name_at)].decode("ascii")
        items.append((name, toc[data_at:end]))
    return blob[:header_size], items


def build(header: bytes, items: list[tuple[str, bytes]]) -> bytes:
    """A common data package holding ``items`` (kept in their sorted order)."""
    names = b"".join(name.encode("ascii") + b"\0" for name, _data in items)
    table = 4 + 8 * len(items)
    data_at = -(-(table + len(names)) // ALIGN) * ALIGN
    entries, body, name_at = [], b"", table
    for name, data in items:
        entries.append(struct.pack("<II", name_at, data_at + len(body)))
        name_at += len(name) + 1
        body += data + b"\0" * (-len(data) % ALIGN)
    toc = struct.pack("<I", len(items)) + b"".join(entries) + names
    return header + toc + b"\0" * (data_at - len(toc)) + body


def elf_symbol(lib: Path, prefix: str = "icudt") -> tuple[str, bytes]:
    """The data symbol (e.g. ``icudt73_dat``) of an ICU data library and its bytes."""
    out = subprocess.run(["readelf", "-sW", "--dyn-syms", str(lib)], capture_output=True,
                         text=True, check=True).stdout
    sections = subprocess.run(["readelf", "-SW", str(lib)], capture_output=True, text=True,
                              check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 8 and fields[7].startswith(prefix) and fields[7].endswith("_dat"):
            address, size, index = int(fields[1], 16), int(fields[2], 0), fields[6]
            break
    else:
        raise ValueError(f"{lib}: no {prefix}*_dat symbol")
    for line in sections.splitlines():
        match = re.match(r"\s*\[\s*(\d+)\]\s+\S+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if match and match.group(1) == index:
            offset = address - int(match.group(2), 16) + int(match.group(3), 16)
            return fields[7], lib.read_bytes()[offset:offset + size]
    raise ValueError(f"{lib}: section {index} of {fields[7]} not found")


def shrink(lib: Path, out: Path, keep: Callable[[str], bool] = keep_item) -> tuple[int, int]:
    """Write a copy of the ICU data library ``lib`` holding the items ``keep`` accepts to ``out``.

    Returns (items kept, items in ``lib``). Needs readelf and a C compiler driver (``cc``).
    """
    symbol, blob = elf_symbol(lib)
    header, items = parse(blob)
    kept = [item for item in items if keep(item[0])]
    soname = re.search(r"SONAME\)\s+Library soname: \[(.+)\]", subprocess.run(
        ["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout)
    with tempfile.TemporaryDirectory(prefix="lc-icudata-") as tmp_text:
        tmp = Path(tmp_text)
        (tmp / "icu.dat").write_bytes(build(header, kept))
        (tmp / "icu.S").write_text(
            f'.section .rodata\n.globl {symbol}\n.type {symbol}, @object\n.balign {ALIGN}\n'
            f'{symbol}:\n.incbin "{tmp / "icu.dat"}"\n.size {symbol}, . - {symbol}\n'
            '.section .note.GNU-stack,"",@progbits\n')
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise FileNotFoundError("no C compiler (cc) to link the ICU data library")
        subprocess.run([cc, "-shared", "-nostdlib", "-Wl,-z,noexecstack", "-Wl,--hash-style=both",
                        f"-Wl,-soname,{soname.group(1) if soname else lib.name}", "-o", str(out),
                        str(tmp / "icu.S")], check=True)
    return len(kept), len(items)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python installer/icudata.py LIBICUDATA OUT")
    kept_count, total = shrink(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[2]}: {kept_count} of {total} ICU data items")
