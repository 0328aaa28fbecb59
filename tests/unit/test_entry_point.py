"""The entry point alone loads the tray: the command line never imports Qt or app.tray."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import cli
from app.cli.tray import TRAY_COMMANDS
from tests.ui.conftest import write_config

REPO = Path(__file__).resolve().parents[2]


def imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def is_ui(module: str) -> bool:
    # ``doctor`` reads the OS's network state through Qt's network module (app.tray.netinfo),
    # the one piece of the tray's room a command may load; the windows and the icon it may not.
    if module == "app.tray.netinfo" or module.startswith("app.tray.netinfo."):
        return False
    return module == "app.tray" or module.startswith(("app.tray.", "PySide6"))


def test_no_cli_module_imports_the_ui():
    modules = sorted(REPO.glob("app/cli/*.py"))
    assert len(modules) >= 5, modules
    offenders = {m.name: sorted(filter(is_ui, imported_modules(m))) for m in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_entry_point_is_where_the_ui_is_imported():
    # The same parser finds the entry point's lazy import: the check above can fail.
    assert "app.tray" in imported_modules(REPO / "app" / "main.py")
    assert any(is_ui(m) for m in imported_modules(REPO / "app" / "main.py"))


def qt_modules_loaded(tmp_path: Path, *argv: str) -> tuple[int, list[str]]:
    """Run ``python -X importtime -m app ARGV`` and list the Qt/ui modules it imported."""
    config = write_config(tmp_path / "cfg" / "companion.toml", "http://127.0.0.1:9", "")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LICENSE_COMPANION_CONFIG": str(config)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "app", "--home",
                           str(tmp_path / "home"), *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "app.main" in imported, proc.stderr[-2000:]
    return proc.returncode, [m for m in imported if is_ui(m)]


@pytest.mark.parametrize("argv", [("status",), ("status", "--json"),
                                  ("track", "feature.x", "--value", "1"), ("consent",)])
def test_commands_never_import_qt(tmp_path, argv):
    code, qt = qt_modules_loaded(tmp_path, *argv)
    assert code == 0
    assert qt == []


def test_a_mistyped_tray_command_is_refused_before_qt_loads(tmp_path):
    code, qt = qt_modules_loaded(tmp_path, "show", "no-such-window")
    assert code == 2
    assert qt == []


def test_the_measurement_sees_qt_when_it_is_imported():
    # The same -X importtime reading finds Qt when it is imported, so the checks above can fail.
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app.tray.app"], cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=120)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "PySide6.QtCore" in imported and "app.tray.app" in imported


def test_the_tray_command_runs_through_the_entry_point(tmp_path, monkeypatch):
    import app.tray.app
    from app.main import main

    config = write_config(tmp_path / "companion.toml", "http://127.0.0.1:9", "")
    seen: dict = {}

    def fake_run_tray(state_dir, companion_factory, license_factory, product, config_path,
                      **kwargs):
        companion = companion_factory()  # what the worker thread would build
        try:
            seen.update(kwargs, product=product, license=license_factory(companion))
            seen["same"] = seen["license"] is companion.license
        finally:
            companion.close()
        return 0

    monkeypatch.setattr(app.tray.app, "run_tray", fake_run_tray)
    assert main(["--home", str(tmp_path / "home"), "--config", str(config)]) == 0
    assert seen["product"] == "Test Product" and seen["same"] and seen["license"] is not None
    assert seen["interval"] == 10.0 and seen["show"] is None


def test_every_command_of_the_parser_has_its_function():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert set(sub.choices) == set(cli.COMMANDS) | set(TRAY_COMMANDS)
    assert not set(cli.COMMANDS) & set(TRAY_COMMANDS)


def test_no_command_means_the_tray():
    assert cli.parse_args([]).command == "tray" == cli.DEFAULT_COMMAND
    assert cli.parse_args(["status"]).command == "status"
