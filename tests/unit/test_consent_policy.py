"""Precedence policy › DO_NOT_TRACK › the user, over a real state database."""

from __future__ import annotations

import pytest

from app.core.consent import ConsentPolicy, PolicyLockedError, enforce_policy
from app.model.consent import NO_POLICY, AdminPolicy, Category, Choice, DecidedBy
from app.model.errors import ValidationError
from app.storage.config import ConsentConfig
from app.storage.db import Database
from app.storage.state import StateStore

CATS = (
    Category("usage", "Usage", "features used", ("feature.*",)),
    Category("crashes", "Crashes", "crash reports", ("crash.*",)),
)
SRC = "/etc/license-companion/policy.toml"


@pytest.fixture()
def state(tmp_path):
    db = Database(tmp_path / "companion.db")
    yield StateStore(db)
    db.close()


def make(state, admin=NO_POLICY, environ=None):
    return ConsentPolicy(ConsentConfig(1, CATS), state, environ or {}, lambda: 100.0, admin=admin)


def test_without_policy_the_user_decides(state):
    policy = make(state)
    assert policy.effective_decision("usage").decided_by is DecidedBy.UNDECIDED
    policy.set(Choice.GRANTED, ["usage"])
    now = policy.effective_decision("usage")
    assert (now.choice, now.decided_by, now.locked) == (Choice.GRANTED, DecidedBy.USER, False)
    assert policy.granted() == ["usage"]
    assert policy.blocked_reason() == ""


def test_do_not_track_beats_the_user(state):
    make(state).set(Choice.GRANTED)
    policy = make(state, environ={"DO_NOT_TRACK": "1"})
    now = policy.effective_decision("usage")
    assert (now.choice, now.decided_by) == (Choice.DENIED, DecidedBy.DO_NOT_TRACK)
    assert policy.granted() == [] and "DO_NOT_TRACK" in policy.blocked_reason()


def test_policy_beats_do_not_track_and_the_user(state):
    make(state).set(Choice.GRANTED)
    admin = AdminPolicy(source=SRC, deny=frozenset({"usage"}))
    policy = make(state, admin, environ={"DO_NOT_TRACK": "1"})
    usage, crashes = policy.effective_decision("usage"), policy.effective_decision("crashes")
    assert (usage.choice, usage.decided_by, usage.locked) == (Choice.DENIED, DecidedBy.POLICY, True)
    assert SRC in usage.reason and "administrator" in usage.reason
    assert crashes.decided_by is DecidedBy.DO_NOT_TRACK
    assert make(state, admin).granted() == ["crashes"]


def test_telemetry_off_denies_everything_and_blocks_grants(state):
    make(state).set(Choice.GRANTED)
    policy = make(state, AdminPolicy(source=SRC, enabled=False))
    assert policy.granted() == []
    assert all(s.decided_by is DecidedBy.POLICY and s.locked and s.effective is Choice.DENIED
               for s in policy.states())
    assert policy.blocked_reason() == f"telemetry is off by policy (set by your administrator in {SRC})"
    with pytest.raises(PolicyLockedError) as err:
        policy.set(Choice.GRANTED, ["crashes"])
    assert err.value.exit_code == 2 and "off by policy" in str(err.value)
    assert policy.decision("crashes").choice is Choice.GRANTED  # stored choice untouched


def test_invalid_policy_reads_as_off_and_says_why(state):
    admin = AdminPolicy(source=SRC, enabled=False, locked=True,
                        error=f"administrator policy {SRC}: [telemetry] enabeld: unknown key")
    policy = make(state, admin)
    assert policy.granted() == []
    assert "enabeld" in policy.blocked_reason()
    assert "enabeld" in policy.states()[0].reason


def test_grant_of_a_denied_category_is_an_error_and_stores_nothing(state):
    policy = make(state, AdminPolicy(source=SRC, deny=frozenset({"usage"})))
    with pytest.raises(PolicyLockedError) as err:
        policy.set(Choice.GRANTED, ["crashes", "usage"])
    assert "usage" in str(err.value) and SRC in str(err.value)
    assert policy.decision("crashes").choice is Choice.UNDECIDED


def test_grant_all_grants_what_the_policy_allows(state):
    policy = make(state, AdminPolicy(source=SRC, deny=frozenset({"usage"})))
    assert policy.set(Choice.GRANTED) == ["crashes"]
    assert policy.granted() == ["crashes"]
    assert policy.decision("usage").choice is Choice.UNDECIDED


def test_grant_all_when_all_are_denied(state):
    policy = make(state, AdminPolicy(source=SRC, deny=frozenset({"usage", "crashes"})))
    with pytest.raises(PolicyLockedError, match="every category"):
        policy.set(Choice.GRANTED, [])


def test_locked_blocks_grants_but_never_a_withdrawal(state):
    make(state).set(Choice.GRANTED, ["usage"])
    policy = make(state, AdminPolicy(source=SRC, locked=True))
    assert policy.effective_decision("usage").locked
    assert policy.granted() == ["usage"]  # the lock keeps the user's choice...
    with pytest.raises(PolicyLockedError, match="locked"):
        policy.set(Choice.GRANTED, ["crashes"])
    assert policy.set(Choice.DENIED, ["usage"]) == ["usage"]  # ...but the user can always say no
    assert policy.granted() == []


def test_revoke_of_a_policy_denied_category_is_kept_for_later(state):
    admin = AdminPolicy(source=SRC, deny=frozenset({"usage"}))
    make(state).set(Choice.GRANTED, ["usage"])
    assert make(state, admin).set(Choice.DENIED, ["usage"]) == ["usage"]  # no error
    # the administrator lifts the policy: the user's later "no" still holds
    assert make(state).effective("usage") is Choice.DENIED


def test_unknown_category_is_still_a_validation_error(state):
    policy = make(state, AdminPolicy(source=SRC, deny=frozenset({"usage"})))
    with pytest.raises(ValidationError):
        policy.set(Choice.DENIED, ["nope"])


def test_allowed_filters_unsaved_switches(state):
    assert make(state).allowed(["usage", "crashes"]) == ["usage", "crashes"]
    assert make(state, AdminPolicy(source=SRC, deny=frozenset({"usage"}))).allowed(
        ["usage", "crashes"]) == ["crashes"]
    assert make(state, AdminPolicy(source=SRC, enabled=False)).allowed(["crashes"]) == []
    assert make(state, environ={"DO_NOT_TRACK": "1"}).allowed(["crashes"]) == []


class Recorder:
    def __init__(self):
        self.calls = []

    def discard(self, categories=None, backend=None):
        self.calls.append(categories)
        return 3


def test_enforce_policy_discards_what_the_policy_denies(state):
    rec = Recorder()
    assert enforce_policy(make(state), rec) == 0 and rec.calls == []
    assert enforce_policy(make(state, AdminPolicy(source=SRC, deny=frozenset({"usage"}))), rec) == 3
    assert enforce_policy(make(state, AdminPolicy(source=SRC, enabled=False)), rec) == 3
    assert rec.calls == [["usage"], None]


def test_an_unreadable_policy_stops_sending_but_deletes_nothing(state):
    """A typo or a passing read error in the policy file must not destroy the queue: sending
    stops (the safe reading), the events wait for a policy that can be read."""
    rec = Recorder()
    broken = AdminPolicy(source=SRC, enabled=False, locked=True, error=f"{SRC}: bad TOML")
    policy = make(state, broken)
    assert enforce_policy(policy, rec) == 0 and rec.calls == []
    assert policy.blocked_reason()
