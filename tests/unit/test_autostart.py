"""Start at login: the XDG autostart file for real (XDG_CONFIG_HOME redirected), the plist."""

from __future__ import annotations

import configparser
import plistlib
import sys

import pytest

from app.support.autostart import Autostart, AutostartError, default_command


def xdg(tmp_path, command=("/opt/lc/license-companion", "--home", "/tmp/a b", "tray")):
    return Autostart(list(command), platform="linux",
                     environ={"XDG_CONFIG_HOME": str(tmp_path / "config")}, home=tmp_path)


def test_xdg_enable_writes_a_valid_desktop_entry_and_disable_removes_it(tmp_path):
    entry = xdg(tmp_path)
    path = tmp_path / "config" / "autostart" / "license-companion.desktop"
    assert not entry.is_enabled()
    entry.enable()
    assert entry.is_enabled() and path.is_file()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    section = parser["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Exec"] == '/opt/lc/license-companion --home "/tmp/a b" tray'
    assert section["Terminal"] == "false"
    entry.enable()  # idempotent
    entry.disable()
    assert not path.exists() and not entry.is_enabled()
    entry.disable()  # nothing to remove: fine


def test_xdg_defaults_to_dot_config_and_respects_hidden(tmp_path):
    entry = Autostart(["lc", "tray"], platform="linux", environ={}, home=tmp_path)
    entry.enable()
    path = tmp_path / ".config" / "autostart" / "license-companion.desktop"
    assert path.is_file()
    path.write_text(path.read_text() + "Hidden=true\n")
    assert not entry.is_enabled()  # the desktop's own "disabled" switch counts


def test_special_characters_are_quoted_for_exec(tmp_path):
    entry = xdg(tmp_path, ["/x/lc", "--config", 'a"b$c%d', "tray"])
    line = next(x for x in entry.desktop_entry().splitlines() if x.startswith("Exec="))
    assert line == 'Exec=/x/lc --config "a\\"b\\$c%%d" tray'


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "config"
    blocker.write_text("not a directory")
    with pytest.raises(AutostartError, match="cannot write"):
        xdg(tmp_path).enable()


def test_macos_launch_agent(tmp_path):
    entry = Autostart(["/Applications/LC.app/Contents/MacOS/lc", "tray"], platform="darwin",
                      home=tmp_path)
    entry.enable()
    path = tmp_path / "Library" / "LaunchAgents" / "org.licensecompanion.tray.plist"
    data = plistlib.loads(path.read_bytes())
    assert data["RunAtLoad"] is True
    assert data["ProgramArguments"] == ["/Applications/LC.app/Contents/MacOS/lc", "tray"]
    assert entry.is_enabled()
    entry.disable()
    assert not entry.is_enabled()


@pytest.mark.skipif(sys.platform == "win32", reason="the registry exists there")
def test_windows_without_a_registry_says_so():
    with pytest.raises(AutostartError, match="registry"):
        Autostart(["lc.exe", "tray"], platform="win32").is_enabled()


def test_default_command_ends_with_tray():
    command = default_command(["--home", "/h"])
    assert command[-3:] == ["--home", "/h", "tray"]


def test_system_wide_entry_is_hidden_for_this_user_not_ignored(tmp_path):
    system = tmp_path / "etc-xdg" / "autostart"
    system.mkdir(parents=True)
    (system / "license-companion.desktop").write_text("[Desktop Entry]\nExec=lc tray\n")
    entry = Autostart(["lc", "tray"], platform="linux", home=tmp_path,
                      environ={"XDG_CONFIG_HOME": str(tmp_path / "config"),
                               "XDG_CONFIG_DIRS": str(tmp_path / "etc-xdg")})
    user = tmp_path / "config" / "autostart" / "license-companion.desktop"
    assert entry.is_enabled()  # the package's entry starts it for everyone
    entry.disable()
    assert "Hidden=true" in user.read_text() and not entry.is_enabled()
    entry.enable()
    assert "Hidden=true" not in user.read_text() and entry.is_enabled()


def test_login_args_keep_explicit_home_and_config_as_absolute_paths(tmp_path, monkeypatch):
    from app.support.autostart import login_args

    monkeypatch.chdir(tmp_path)
    assert login_args(None, None) == []
    assert login_args("state", None) == ["--home", str(tmp_path / "state")]
    assert login_args(None, "cfg/c.toml") == ["--config", str(tmp_path / "cfg" / "c.toml")]


@pytest.mark.skipif(sys.platform == "win32", reason="checks the XDG .desktop entry's quoting of POSIX paths")
def test_tray_command_hands_its_home_and_config_to_start_at_login(tmp_path, monkeypatch):
    """`--home X --config Y tray` must write X and Y into the login entry, not the defaults."""
    import app.tray.app
    from app.main import main
    from tests.ui.conftest import write_config

    write_config(tmp_path / "cfg" / "companion.toml")
    monkeypatch.chdir(tmp_path)
    seen = {}

    def fake_run_tray(*args, **kwargs):
        seen.update(kwargs)
        return 0

    monkeypatch.setattr(app.tray.app, "run_tray", fake_run_tray)
    assert main(["--home", "state", "--config", "cfg/companion.toml", "tray"]) == 0
    command = default_command(seen["login_args"])
    assert command[-5:] == ["--home", str(tmp_path / "state"),
                            "--config", str(tmp_path / "cfg" / "companion.toml"), "tray"]
    entry = Autostart(command, platform="linux",
                      environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, home=tmp_path)
    assert f"--home {tmp_path / 'state'}" in entry.desktop_entry()
