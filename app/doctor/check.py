"""One line of ``doctor``'s report, and the report's two renderings (text and JSON).

Kept apart from the checks so the tray's About window ("Copy report") can show a report
without importing what produces it.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any


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
        width = max((len(c.name) for c in self.checks), default=0)
        lines = [self.title] if self.title else []
        for check in self.checks:
            mark = {Verdict.OK: "ok", Verdict.NOT_CHECKED: "--"}.get(
                check.verdict, check.verdict.value.upper())
            lines.append(f"{mark:4}  {check.name:{width}}  {check.detail}")
            if check.fix and check.verdict in (Verdict.WARN, Verdict.FAIL):
                lines.append(f"{'':4}  {'':{width}}  fix: {check.fix}")
        counts = self.counts()
        skipped = (f", {counts['not-checked']} not checked here" if counts["not-checked"]
                   else "")
        lines.append(f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed"
                     f"{skipped}")
        return "\n".join(lines)
