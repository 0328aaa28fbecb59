"""The shared protocol cases (clients/protocol-cases.json) and how an answer is held to one.

Every client's tests send the same lines to the real door and compare with ``mismatch``; the
Node client's own test (clients/node/test/cases.test.js) applies the same rule in JavaScript.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).resolve().parents[1] / "clients" / "protocol-cases.json"


def load() -> dict[str, Any]:
    """The file: ``about``, ``config`` (the vendor configuration) and ``cases``."""
    data: dict[str, Any] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return data


def mismatch(expect: Any, answer: Any, where: str = "") -> str:
    """"" when ``answer`` has every field of ``expect`` (objects field by field, lists item by
    item, ``!key`` absent), else the first difference."""
    if isinstance(expect, dict):
        if not isinstance(answer, dict):
            return f"{where or 'answer'}: expected an object, got {answer!r}"
        for key, value in expect.items():
            if key.startswith("!"):
                if key[1:] in answer:
                    return f"{where}{key[1:]}: expected absent, got {answer[key[1:]]!r}"
                continue
            if key not in answer:
                return f"{where}{key}: missing"
            problem = mismatch(value, answer[key], f"{where}{key}.")
            if problem:
                return problem
        return ""
    if isinstance(expect, list):
        if not isinstance(answer, list) or len(answer) != len(expect):
            return f"{where}: expected {len(expect)} items, got {answer!r}"
        for index, (want, got) in enumerate(zip(expect, answer, strict=True)):
            problem = mismatch(want, got, f"{where}[{index}].")
            if problem:
                return problem
        return ""
    if type(expect) is not type(answer) and not (
            isinstance(expect, int | float) and isinstance(answer, int | float)
            and not isinstance(answer, bool) and not isinstance(expect, bool)):
        return f"{where.rstrip('.')}: expected {expect!r}, got {answer!r}"
    if expect != answer:
        return f"{where.rstrip('.')}: expected {expect!r}, got {answer!r}"
    return ""
