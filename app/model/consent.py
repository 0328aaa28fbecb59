"""Consent categories declared by the vendor, and the user's decision for each."""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """A kind of data the vendor collects, as shown to the user.

    Attributes:
        id: stable id, used in the CLI and in stored decisions.
        title: short name shown to the user.
        description: what it contains, in plain words.
        events: shell-style patterns (``feature.*``) of the event names it covers.
    """

    id: str
    title: str
    description: str
    events: tuple[str, ...]

    def matches(self, event_name: str) -> bool:
        """Whether an event of this name belongs to this category (case-sensitive)."""
        return any(fnmatch.fnmatchcase(event_name, pattern) for pattern in self.events)


DEFAULT_CATEGORY = Category(
    id="usage",
    title="Usage data",
    description="Which features of the product you use and how often.",
    events=("*",),
)


def category_for(categories: Sequence[Category], event_name: str) -> Category | None:
    """The first declared category that covers the event name, or None."""
    for category in categories:
        if category.matches(event_name):
            return category
    return None


class Choice(enum.Enum):
    """The user's answer for one category."""

    GRANTED = "granted"
    DENIED = "denied"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Decision:
    """A stored answer: which choice, for which consent version, when (epoch seconds)."""

    category: str
    choice: Choice
    version: int
    decided_at: float | None
