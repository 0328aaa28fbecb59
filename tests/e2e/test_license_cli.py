"""The real ``python -m app`` process: identity guarantees, ``license`` commands, no secret leaks.

Each command runs as its own subprocess against the private Secret Service (tests/conftest.py)
and the in-process KeyManager/TelemetryDeck receivers over loopback.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

from app.receiver import (
    Hang,
    KeyManagerReceiver,
    License,
    Respond,
    TelemetryDeckReceiver,
    generate_private_key,
)
from tests.configs import keymanager, telemetrydeck, write_vendor_config
from tests.other_user import AS_NOBODY, readable_install

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "5f0b2a77-8c1e-4e55-9d3a-a1b2c3d4e5f6"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
TD_APP_ID = "B97579B6-FFB8-4AC5-AAA7-DA5796CC5DCE"


@pytest.fixture(scope="module")
def private_key():
    return generate_private_key()


@pytest.fixture()
def receivers(private_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=private_key,
                            licenses={LICENSE: License(max_activations=1)}) as km, \
            TelemetryDeckReceiver() as td:
        yield km, td


def write_config(tmp_path: Path, km: KeyManagerReceiver | None = None,
                 td: TelemetryDeckReceiver | None = None, product_id: str = "7") -> Path:
    return write_vendor_config(
        tmp_path / "companion.toml",
        pem=km.public_key_pem if km is not None else None,
        product={"id": product_id, "version": "1.0"},
        keymanager=keymanager(km.base_url, API_KEY, timeout=2) if km is not None else None,
        telemetrydeck=telemetrydeck(td.url, TD_APP_ID, timeout=2) if td is not None else None,
        categories=(),
    )


class Cli:
    """Runs the CLI and keeps every byte it printed (for the leak check)."""

    def __init__(self, env: dict[str, str], home: Path, config: Path,
                 python: Path | str = sys.executable, cwd: Path = ROOT) -> None:
        self.env = env
        self.home = home
        self.config = config
        self.python = str(python)
        self.cwd = cwd
        self.outputs: list[tuple[list[str], str, str]] = []

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True,
                 prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        argv = [*prefix, self.python, "-m", "app", "--home", str(self.home),
                "--config", str(self.config), "--log-level", "DEBUG", *args]
        result = subprocess.run(argv, input=stdin if stdin is not None else "", text=True,
                                capture_output=True, timeout=60, env=self.env, cwd=self.cwd)
        self.outputs.append((list(args), result.stdout, result.stderr))
        if check and result.returncode not in (0, 1):
            raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
        return result

    def id_json(self, **kwargs) -> dict:
        return json.loads(self("id", "--json", **kwargs).stdout)


@pytest.fixture()
def cli_env(keyring_env, tmp_path):
    env = keyring_env.client_env()
    env.pop("LICENSE_COMPANION_HOME", None)
    env.pop("DO_NOT_TRACK", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


request_cleanup: list[Path] = []


@pytest.fixture(autouse=True)
def _cleanup():
    yield
    while request_cleanup:
        shutil.rmtree(request_cleanup.pop(), ignore_errors=True)


def ids(data: dict) -> tuple[str, str]:
    return data["user_identifier"], data["activation_identifier"]


def test_identity_is_stable_across_processes_reinstall_and_license_changes(cli_env, tmp_path):
    cli = Cli(cli_env, tmp_path / "state", write_config(tmp_path))
    first = cli.id_json()
    assert ids(cli.id_json()) == ids(first)  # a second process

    shutil.rmtree(cli.home)  # a reinstall: the state directory is gone
    assert ids(cli.id_json()) == ids(first)

    cli("license", "set", stdin=LICENSE + "\n")
    with_license = cli.id_json()
    cli("license", "clear")
    assert ids(with_license) == ids(first) == ids(cli.id_json())

    text = json.dumps(first)
    user = pwd.getpwuid(os.getuid()).pw_name
    assert f'"{user}"' not in text and f" {user} " not in text
    machine = Path("/etc/machine-id")
    if machine.exists():
        assert machine.read_text().strip() not in text
        assert first["sources"]["machine_id"] == "/etc/machine-id"


def test_another_product_gets_other_identifiers(cli_env, tmp_path):
    a = Cli(cli_env, tmp_path / "a", write_config(tmp_path / "a", product_id="7")).id_json()
    b = Cli(cli_env, tmp_path / "b", write_config(tmp_path / "b", product_id="8")).id_json()
    assert a["user_identifier"] != b["user_identifier"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run the CLI as a second OS user")
def test_another_os_user_gets_other_identifiers(cli_env, tmp_path):
    tmp_path = Path(tempfile.mkdtemp(prefix="lc-two-users-"))  # pytest's is 0700 for root only
    request_cleanup.append(tmp_path)
    tmp_path.chmod(0o755)
    # The checkout and its .venv may be out of nobody's reach (a clone in a 0700 folder).
    install = readable_install(tmp_path / "python")
    if isinstance(install, str):
        pytest.skip(install)
    config = write_config(tmp_path)
    config.chmod(0o644)
    other_home = tmp_path / "nobody"
    other_home.mkdir(mode=0o777)
    other_home.chmod(0o777)
    env = dict(cli_env, HOME=str(other_home), PYTHONPATH=str(install.pythonpath))
    mine = Cli(cli_env, tmp_path / "state", config).id_json()
    cli = Cli(env, other_home / "state", config, python=install.python, cwd=other_home)
    theirs = json.loads(cli("id", "--json", prefix=AS_NOBODY).stdout)
    again = json.loads(cli("id", "--json", prefix=AS_NOBODY).stdout)
    assert ids(theirs) == ids(again)
    assert theirs["user_identifier"] != mine["user_identifier"]
    assert theirs["activation_identifier"] != mine["activation_identifier"]


def test_license_commands_against_the_real_keyring(cli_env, tmp_path, receivers):
    km, td = receivers
    cli = Cli(cli_env, tmp_path / "state", write_config(tmp_path, km, td))
    result = cli("license", "show")
    assert result.returncode == 1 and "no license key stored" in result.stdout

    result = cli("license", "set", stdin="  9CC2CC83-4C74-49F9-98F5-F0E1C1EB1541\n")
    assert result.returncode == 0, result.stderr
    assert "9cc2…1541" in result.stdout and "SecretService" in result.stdout
    assert cli("license", "show").stdout.startswith("9cc2…1541")
    assert cli("license", "show", "--reveal").stdout.strip() == LICENSE

    status = json.loads(cli("license", "status", "--json").stdout)
    assert (status["state"], status["code"]) == ("invalid", 202)
    assert cli("license", "activate").stdout.startswith("activated: 300")
    result = cli("license", "status")
    assert result.returncode == 0 and result.stdout.startswith("license: valid: License key is valid")
    assert "license_status: valid" in cli("status").stdout
    assert cli("license", "deactivate").stdout.startswith("deactivated: 400")

    refused = cli("license", "set", "SOME-KEY-ON-ARGV", check=False)
    assert refused.returncode == 2 and "SOME-KEY-ON-ARGV" not in refused.stderr
    garbage = cli("license", "set", stdin="\x00\x01", check=False)
    assert garbage.returncode == 2 and "letters and digits" in garbage.stderr

    assert cli("license", "clear").stdout.startswith("license key removed")
    assert "no license key stored" in cli("license", "status").stdout


def test_status_survives_a_dead_keyring(cli_env, tmp_path, keyring_env):
    cli = Cli(cli_env, tmp_path / "state", write_config(tmp_path))
    keyring_env.stop_keyring()
    result = cli("status")
    assert result.returncode == 0, result.stderr
    assert "license_key: unknown: the keyring service is not running" in result.stdout
    failed = cli("license", "show")
    assert failed.returncode == 1 and "gnome-keyring-daemon" in failed.stderr


def test_no_secret_reaches_a_file_or_an_output(cli_env, tmp_path, receivers):
    km, td = receivers
    cli = Cli(cli_env, tmp_path / "state", write_config(tmp_path, km, td))
    cli("license", "set", stdin=LICENSE)
    cli("license", "set", LICENSE, check=False)  # refused: argv; must not be echoed either
    cli("consent", "grant")
    for n in range(3):
        cli("track", "feature.export", "--value", str(n), "--payload", "format=png")
    cli("track", "error.io", "--text", "disk full")
    km.script(Respond(500, b"boom"), Hang(5))
    td.script(Respond(500, b"boom"))
    cli("send")  # failures: 500 and a hang on KeyManager, 500 on TelemetryDeck
    cli("send")
    cli("license", "activate")
    km.script(Respond(500, b"boom"))
    cli("license", "status")
    cli("license", "status", "--json")
    cli("license", "status", "--offline")
    cli("license", "show")
    cli("preview")
    cli("preview", "--json")
    cli("history")
    cli("history", "--json")
    cli("status")
    cli("status", "--json")
    cli("id", "--json")
    cli("track", "feature.import", "--value", "1")
    cli("send")

    # the run really happened: events and the key reached the receivers...
    sent = [r.form.get("license_key") for r in km.requests if isinstance(r.form, dict)]
    assert LICENSE in sent
    assert any(r.status == 200 for r in td.requests)
    # ...and neither secret is anywhere else
    needles = {LICENSE.encode(), API_KEY.encode(), quote(LICENSE).encode(),
               LICENSE.upper().encode()}
    files = [p for p in cli.home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("companion.db") for p in files)
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} found in {path}"
    for args, stdout, stderr in cli.outputs:
        for needle in (LICENSE, API_KEY):
            assert needle not in stdout and needle not in stderr, (args, needle)


def test_a_state_database_moved_aside_is_reported_by_status(cli_env, tmp_path, receivers):
    """The license service shares the companion's database, so the notice reaches ``status``."""
    km, td = receivers
    cli = Cli(cli_env, tmp_path / "state", write_config(tmp_path, km, td))
    cli.home.mkdir(parents=True)
    (cli.home / "companion.db").write_bytes(b"this is not a database" * 100)
    result = cli("status")
    assert result.returncode == 0, result.stderr
    assert "WARNING: The state database was unusable" in result.stdout, result.stdout
    assert "moved to" in result.stdout
    assert list(cli.home.glob("companion.db.unusable-*"))


def test_a_replayed_30_day_old_signed_answer_is_not_shown_as_valid(cli_env, tmp_path, receivers):
    km, td = receivers
    cli = Cli(cli_env, tmp_path / "state", write_config(tmp_path, km, td))
    cli("license", "set", stdin=LICENSE + "\n")
    assert cli("license", "activate").stdout.startswith("activated: 300")
    assert cli("license", "status").stdout.startswith("license: valid")
    real_clock = km.clock
    km.clock = lambda: real_clock() - 30 * 86400  # the same signed answer, a month old
    result = cli("license", "status", check=False)
    assert result.returncode == 1
    assert "not taken as valid" in result.stdout and "not taken as fresh" in result.stdout
    answer = json.loads(cli("license", "status", "--json", check=False).stdout)
    assert answer["state"] == "valid" and answer["counts_as_valid"] is False
    assert "replayed" in answer["not_valid_because"]
    cli("license", "deactivate")
    cli("license", "clear")
