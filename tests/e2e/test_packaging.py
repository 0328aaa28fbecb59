"""Packaging: build.spec, the frozen binary, the .deb through dpkg, the NSIS script, the plist.

Fast tests (always): build.spec run with stand-ins for PyInstaller's classes (metadata from
app/__init__.py, hidden imports, what the Qt trimming keeps and drops, on real Qt files), the
branding overlay, the NSIS compile (when makensis exists), the LaunchAgent plist.

Slow tests (only with ``LC_PACKAGING=1``; ``scripts/build-all.sh`` runs them on the artifacts it
just built, with ``LC_PACKAGING_REUSE=1``): the frozen ``--self-test`` offscreen and on the real
private Secret Service, then ``dpkg -i``, the installed ``/usr/bin`` self-test, the installed tray
docked under Xvfb + openbox + trayer with a screenshot, ``dpkg -r`` and ``dpkg -P`` and what is
left; and a silent install/uninstall of the NSIS installer under wine64 when it is installed.
Measurements are printed as ``PACKAGING ...`` lines.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import plistlib
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import app
from app.support.autostart import BUNDLE_ID
from tests.procs import terminate, wait_for

REPO = Path(__file__).resolve().parents[2]
PACKAGING = os.environ.get("LC_PACKAGING") == "1"
REUSE = os.environ.get("LC_PACKAGING_REUSE") == "1"
packaging_only = pytest.mark.skipif(
    not PACKAGING, reason="packaging build: set LC_PACKAGING=1 (scripts/build-all.sh does)")


def load_installer_module(name: str):
    """installer/NAME.py, registered as ``NAME`` (the name build.spec imports it by)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "installer" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


branding = load_installer_module("branding")
INFO = branding.build_info()


def report(line: str) -> None:
    print(f"PACKAGING {line}", flush=True)


# --- fast: build.spec, branding, NSIS, plist ------------------------------------------------------


def run_spec(tmp_path: Path, binaries: list, datas: list, platform: str = "linux",
             scripts: list | None = None) -> SimpleNamespace:
    """Execute build.spec with recording stand-ins for PyInstaller's build classes.

    ``scripts``: the run-time hooks and scripts PyInstaller's analysis would list (default: the
    scripts the spec passes in).
    """
    calls = SimpleNamespace(analysis=None, exes=[], collect=None, bundle=None)

    class Analysis:
        def __init__(self, script_args, **kwargs):
            self.script_args, self.kwargs = script_args, kwargs
            self.scripts = list(script_args if scripts is None else scripts)
            self.binaries, self.datas, self.pure = list(binaries), list(datas), []
            calls.analysis = self

    def exe(*args, **kwargs):
        calls.exes.append(kwargs)
        return kwargs["name"]

    def collect(*args, **kwargs):
        calls.collect = (args, kwargs)

    def bundle(*args, **kwargs):
        calls.bundle = kwargs

    namespace = {"SPECPATH": str(REPO), "DISTPATH": str(tmp_path / "dist"),
                 "workpath": str(tmp_path / "work"), "Analysis": Analysis,
                 "PYZ": lambda pure: "pyz", "EXE": exe, "COLLECT": collect, "BUNDLE": bundle,
                 "__name__": "__main__"}
    code = compile((REPO / "build.spec").read_text(), str(REPO / "build.spec"), "exec")
    real_platform = sys.platform
    sys.platform = platform  # the spec branches on it; nothing else runs meanwhile
    try:
        exec(code, namespace)
    finally:
        sys.platform = real_platform
    return calls


def test_spec_takes_name_version_and_resources_from_the_package(tmp_path):
    calls = run_spec(tmp_path, [], [])
    assert [e["name"] for e in calls.exes] == [app.APP_ID]
    assert calls.collect[1]["name"] == app.APP_ID
    assert calls.bundle is None  # BUNDLE only on macOS
    assert calls.collect[1]["strip"] is True
    analysis = calls.analysis
    assert analysis.script_args == [str(REPO / "installer" / "entry.py")]
    (staged, dest), = analysis.kwargs["datas"]
    assert dest == "resources" and (Path(staged) / "companion.toml").is_file()
    hidden = set(analysis.kwargs["hiddenimports"])
    for module in ("keyring.backends.SecretService", "keyring.backends.kwallet", "keyring.backends.Windows",
                   "keyring.backends.macOS", "keyring.backends.chainer", "keyring.backends.fail",
                   "jeepney", "secretstorage", "app.cli.tray", "app.tray.selftest", "app.tray.tray_icon"):
        assert module in hidden, module
    assert "PySide6.QtQuick" in analysis.kwargs["excludes"]
    meta = branding.read_package_metadata()
    assert (meta["NAME"], meta["APP_ID"], meta["__version__"]) == (app.NAME, app.APP_ID, app.__version__)


def test_spec_excludes_no_qt_module_the_app_imports(tmp_path):
    import re

    excluded = {m for m in run_spec(tmp_path, [], []).analysis.kwargs["excludes"] if m.startswith("PySide6.")}
    used = set()
    for source in (REPO / "app").rglob("*.py"):
        used |= {f"PySide6.{m}" for m in re.findall(r"PySide6\.(Qt\w+)", source.read_text())}
    assert "PySide6.QtWidgets" in used
    assert not used & excluded, f"build.spec excludes Qt modules app/ imports: {sorted(used & excluded)}"


def test_spec_on_macos_makes_a_tray_only_bundle(tmp_path):
    calls = run_spec(tmp_path, [], [], platform="darwin")
    plist = calls.bundle["info_plist"]
    assert plist["LSUIElement"] is True
    assert plist["CFBundleShortVersionString"] == app.__version__
    assert calls.bundle["bundle_identifier"] == BUNDLE_ID  # the LaunchAgent label too
    assert calls.bundle["name"] == f"{app.NAME}.app"


def test_spec_on_windows_adds_a_windowed_tray_exe(tmp_path):
    calls = run_spec(tmp_path, [], [], platform="win32")
    assert [(e["name"], e["console"]) for e in calls.exes] == [
        (app.APP_ID, True), (f"{app.APP_ID}-tray", False)]


def test_metadata_is_parsed_not_imported(tmp_path):
    init = tmp_path / "__init__.py"
    init.write_text('import does_not_exist\nNAME = "X"\nAPP_ID = "x-app"\n__version__ = "2.3.4rc1"\n')
    info = branding.build_info(init_file=init)
    assert (info.app_id, info.version, info.display_name) == ("x-app", "2.3.4rc1", "X")
    assert info.windows_version == "2.3.0.0"  # "4rc1" is not a number: NSIS needs four numbers
    init.write_text('NAME = "X"\n')
    with pytest.raises(ValueError, match="APP_ID"):
        branding.read_package_metadata(init)


PYSIDE = Path(importlib.util.find_spec("PySide6").origin).parent / "Qt"


@pytest.mark.skipif(not (PYSIDE / "plugins" / "platformthemes" / "libqgtk3.so").is_file(),
                    reason="needs the Linux PySide6 wheel")
def test_spec_keeps_the_plugins_we_use_and_drops_gtk_with_its_libraries(tmp_path):
    binaries = [
        (f"PySide6/Qt/plugins/{name}", str(PYSIDE / "plugins" / name), "BINARY")
        for name in ("platforms/libqxcb.so", "platforms/libqoffscreen.so", "platformthemes/libqgtk3.so")
    ] + [
        ("PySide6/Qt/lib/libQt6XcbQpa.so.6", str(PYSIDE / "lib/libQt6XcbQpa.so.6"), "BINARY"),
        ("PySide6/Qt/lib/libQt6Qml.so.6", str(PYSIDE / "lib/libQt6Qml.so.6"), "BINARY"),
    ]
    gtk = Path("/lib/x86_64-linux-gnu/libgtk-3.so.0")
    if gtk.is_file():
        binaries.append(("libgtk-3.so.0", str(gtk), "BINARY"))
    datas = [("PySide6/Qt/translations/qtbase_de.qm", "/dev/null", "DATA"),
             ("libQt6Qml.so.6", "PySide6/Qt/lib/libQt6Qml.so.6", "SYMLINK"),
             ("libQt6XcbQpa.so.6", "PySide6/Qt/lib/libQt6XcbQpa.so.6", "SYMLINK")]
    analysis = run_spec(tmp_path, binaries, datas).analysis
    kept = {Path(dest).name for dest, _src, _kind in analysis.binaries}
    assert {"libqxcb.so", "libqoffscreen.so", "libQt6XcbQpa.so.6"} <= kept  # XcbQpa: reached from qxcb
    assert not kept & {"libqgtk3.so", "libgtk-3.so.0", "libQt6Qml.so.6"}
    assert [d[0] for d in analysis.datas] == ["libQt6XcbQpa.so.6"]  # no translations, no dangling link


def test_spec_drops_the_run_time_hooks_that_load_qt_or_patch_spawning(tmp_path):
    toc = [(name, f"/hooks/{name}.py", "PYSOURCE") for name in (
        "pyiboot01_bootstrap", "rth_qt", "pyi_rth_inspect", "pyi_rth_pyside6",
        "pyi_rth_multiprocessing", "entry")]
    linux = run_spec(tmp_path, [], [], scripts=toc).analysis
    assert [e[0] for e in linux.scripts] == ["pyiboot01_bootstrap", "rth_qt", "pyi_rth_inspect", "entry"]
    assert linux.kwargs["runtime_hooks"] == [str(REPO / "installer" / "rth_qt.py")]
    for platform in ("win32", "darwin"):  # where spawning is the default, the hook stays
        other = run_spec(tmp_path / platform, [], [], platform=platform, scripts=toc).analysis
        assert [e[0] for e in other.scripts] == ["pyiboot01_bootstrap", "rth_qt", "pyi_rth_inspect",
                                                 "pyi_rth_multiprocessing", "entry"]


icudata = load_installer_module("icudata")
ICU_DATA = next((p for p in sorted((PYSIDE / "lib").glob("libicudata.so.*")) if not p.is_symlink()),
                None) if (PYSIDE / "lib").is_dir() else None
needs_icu_tools = pytest.mark.skipif(
    ICU_DATA is None or not (shutil.which("readelf") and shutil.which("cc")),
    reason="needs the Linux PySide6 wheel (its ICU data library), readelf and cc")


@needs_icu_tools
def test_icu_data_keeps_what_qt_reads_in_root_and_english(tmp_path):
    small = tmp_path / ICU_DATA.name
    kept, total = icudata.shrink(ICU_DATA, small)
    full_symbol, full_blob = icudata.elf_symbol(ICU_DATA)
    original = dict(icudata.parse(full_blob)[1])
    symbol, blob = icudata.elf_symbol(small)
    assert symbol == full_symbol  # what libicuuc links to
    items = icudata.parse(blob)[1]
    names = [name for name, _data in items]
    assert len(items) == kept < total == len(original)
    assert names == sorted(names)  # ICU binary-searches the table of contents
    for name, data in items:  # each item byte for byte (the last one may gain padding)
        size = min(len(data), len(original[name]))
        assert data[:size] == original[name][:size] and abs(len(data) - len(original[name])) < 16
    short = {name.split("/", 1)[1] for name in names}
    assert {"root.res", "en.res", "pool.res", "res_index.res", "cnvalias.icu", "zoneinfo64.res",
            "coll/root.res", "coll/ucadata.icu", "zone/en.res", "zone/root.res"} <= short
    assert not {"de.res", "coll/de.res", "coll/de_.res", "zone/de.res", "brkitr/root.res",
                "unit/en.res"} & short
    assert not [name for name in short if name.endswith(".cnv")]
    assert small.stat().st_size < ICU_DATA.stat().st_size / 5


def test_icu_data_refuses_what_is_not_little_endian_common_data():
    with pytest.raises(ValueError, match="CmnD"):
        icudata.parse(b"\x90\x00\xda\x27" + b"\0" * 140)
    with pytest.raises(ValueError, match="icudt"):
        icudata.elf_symbol(Path(sys.executable).resolve())


@needs_icu_tools
def test_qt_sorts_and_names_time_zones_with_the_trimmed_icu_data(tmp_path):
    """The self-test's ICU probe answers right on the trimmed data, and wrong on none."""
    icudata.shrink(ICU_DATA, tmp_path / ICU_DATA.name)
    empty = tmp_path / "empty"
    empty.mkdir()
    icudata.shrink(ICU_DATA, empty / ICU_DATA.name, keep=lambda name: False)
    code = ("import pathlib; from app.tray.selftest import check_text_services; "
            "print(repr(check_text_services())); print([line.split()[-1] for line in "
            "pathlib.Path('/proc/self/maps').read_text().splitlines() if 'libicudata' in line][0])")

    def probe(folder: Path) -> tuple[dict, str]:
        env = dict(os.environ, LD_LIBRARY_PATH=str(folder), QT_QPA_PLATFORM="offscreen",
                   PYTHONPATH=str(REPO))
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120, check=True)
        report, loaded = done.stdout.strip().splitlines()
        return ast.literal_eval(report), loaded

    checks, loaded = probe(tmp_path)
    assert loaded == str(tmp_path / ICU_DATA.name)
    assert checks == {"collation": "ok", "timezone_name": "Central European Standard Time"}
    checks, loaded = probe(empty)
    assert loaded == str(empty / ICU_DATA.name)
    assert checks["collation"] != "ok" and checks["timezone_name"] != "Central European Standard Time"


@needs_icu_tools
def test_spec_swaps_the_icu_data_and_leaves_apt_libraries_to_the_system(tmp_path):
    stdcpp = Path("/lib/x86_64-linux-gnu/libstdc++.so.6")
    if not stdcpp.is_file():
        pytest.skip("needs a Debian/Ubuntu x86-64 libstdc++")
    binaries = [
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so",
         str(PYSIDE / "plugins/platforms/libqoffscreen.so"), "BINARY"),
        *((f"PySide6/Qt/lib/{p.name}", str(p), "BINARY") for p in sorted((PYSIDE / "lib").glob("*"))
          if p.name.split(".so")[0] in ("libQt6Core", "libQt6Gui", "libicuuc", "libicui18n",
                                        "libicudata")),
        ("libstdc++.so.6", str(stdcpp), "BINARY"),
    ]
    kept = {Path(dest).name: src for dest, src, _kind in run_spec(tmp_path, binaries, []).analysis.binaries}
    assert "libstdc++.so.6" not in kept  # build-deb.sh's ldd pass puts libstdc++6 in Depends
    assert {"libqoffscreen.so", "libQt6Core.so.6", "libicuuc.so.73", ICU_DATA.name} <= set(kept)
    small = Path(kept[ICU_DATA.name])
    assert small.is_relative_to(tmp_path / "work") and small.stat().st_size < 8 * 2**20


def test_branding_folder_overrides_names_and_resources(tmp_path):
    example = REPO / "branding" / "example"
    info = branding.build_info(example)
    assert info.display_name == "Acme Sync License Helper"
    assert info.app_id == app.APP_ID  # never branded: state dir, keyring service and entries use it
    staged = branding.stage_resources(tmp_path / "res", example)
    assert "Acme Sync" in (staged / "companion.toml").read_text()
    assert (staged / "texts").is_dir()  # what the vendor does not replace stays ours
    from app.storage.config import load_config

    assert load_config(staged / "companion.toml").product.name == "Acme Sync"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "branding.toml").write_text('[product]\ndisplay_nam = "typo"\n')
    with pytest.raises(ValueError, match="display_nam"):
        branding.build_info(bad)


def compile_nsis(tmp_path: Path) -> Path:
    payload = tmp_path / "payload"
    (payload / "_internal").mkdir(parents=True)
    for exe in (f"{INFO.app_id}.exe", f"{INFO.app_id}-tray.exe"):
        (payload / exe).write_text("placeholder")
    out = tmp_path / f"{INFO.app_id}-setup.exe"
    subprocess.run(
        ["makensis", "-WX", "-V2", f"-DAPP_ID={INFO.app_id}", f"-DDISPLAY_NAME={INFO.display_name}",
         f"-DVERSION={INFO.version}", f"-DWIN_VERSION={INFO.windows_version}",
         f"-DPUBLISHER={INFO.publisher}", f"-DSOURCE_DIR={payload}", f"-DOUTFILE={out}",
         str(REPO / "installer" / "windows" / "license-companion.nsi")],
        check=True, capture_output=True, text=True, timeout=120)
    return out


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis not installed (Debian: nsis)")
def test_nsis_script_compiles(tmp_path):
    out = compile_nsis(tmp_path)
    assert out.read_bytes()[:2] == b"MZ"
    missing = subprocess.run(["makensis", "-WX", str(REPO / "installer/windows/license-companion.nsi")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "pass -DAPP_ID" in missing.stdout + missing.stderr


def test_launch_agent_template_is_a_valid_plist_with_the_trays_label():
    text = (REPO / "installer" / "macos" / "LaunchAgent.plist.in").read_text()
    program = f"/Applications/{INFO.display_name}.app/Contents/MacOS/{INFO.app_id}"
    data = plistlib.loads(text.replace("@LABEL@", branding.login_item_label())
                          .replace("@PROGRAM@", program).encode())
    assert data["Label"] == BUNDLE_ID
    assert data["ProgramArguments"] == [program, "tray"]
    assert data["RunAtLoad"] is True and data["KeepAlive"] is False


def test_installer_shell_scripts_parse():
    for script in ("installer/linux/build-deb.sh", "installer/macos/make-dmg.sh", "scripts/build-all.sh"):
        subprocess.run(["bash", "-n", str(REPO / script)], check=True)
    subprocess.run(["sh", "-n", str(REPO / "installer/linux/postrm")], check=True)


# --- slow: the real build -------------------------------------------------------------------------

ONEDIR = REPO / "dist" / INFO.app_id
FROZEN = ONEDIR / INFO.app_id


def deb_path() -> Path | None:
    found = sorted((REPO / "dist").glob(f"{INFO.app_id}_{INFO.version}-*.deb"))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def built() -> Path:
    """The onedir build and the .deb: reused from scripts/build-all.sh, else built here."""
    if not (REUSE and FROZEN.is_file() and deb_path()):
        started = time.monotonic()
        subprocess.run([str(REPO / ".venv/bin/pyinstaller"), "--noconfirm", "--log-level", "WARN",
                        str(REPO / "build.spec")], cwd=REPO, check=True, timeout=900)
        report(f"pyinstaller {time.monotonic() - started:.1f} s")
        subprocess.run(["bash", str(REPO / "installer/linux/build-deb.sh")], cwd=REPO, check=True,
                       timeout=900)
    deb = deb_path()
    assert deb is not None
    return deb


def self_test(exe: str | Path, tmp_path: Path, *extra: str, env: dict | None = None) -> dict:
    env = dict(os.environ if env is None else env)
    env.update(QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    result = subprocess.run([str(exe), "--self-test", "--home", str(tmp_path / "home"), *extra],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(result.stdout)
    assert result.returncode == (0 if data["ok"] else 1)
    return data


@pytest.mark.slow
@packaging_only
def test_frozen_self_test_offscreen(built, tmp_path):
    started = time.monotonic()
    data = self_test(FROZEN, tmp_path, "--no-keyring")
    report(f"frozen --self-test (offscreen, no keyring) {time.monotonic() - started:.2f} s")
    assert data["ok"], data
    assert data["frozen"] is True
    assert data["qt"]["platform"] == "offscreen"
    assert "app.tray.app" in data["qt"]["ui_modules"]
    assert data["app"]["version"] == app.__version__
    assert Path(data["resources"]["path"]) == ONEDIR / "_internal" / "resources"
    assert any(name.endswith("app.svg") for name in data["resources"]["icons"])
    assert Path(data["state_dir"]["path"]) == tmp_path / "home"


@pytest.mark.slow
@packaging_only
def test_frozen_bundle_is_trimmed_but_keeps_what_the_tray_loads(built, tmp_path):
    internal = ONEDIR / "_internal"
    size = sum(p.lstat().st_size for p in ONEDIR.rglob("*") if p.is_file() or p.is_symlink())
    report(f"onedir {size / 2**20:.1f} MiB, {sum(1 for p in ONEDIR.rglob('*') if p.is_file())} files")
    icu = next(internal.rglob("libicudata.so.*"))
    assert icu.stat().st_size < 8 * 2**20, "the full ICU data is back (cc or readelf missing?)"
    assert not [p.name for p in internal.rglob("libstdc++.so*")]
    plugins = internal / "PySide6" / "Qt" / "plugins"
    assert (plugins / "networkinformation" / "libqnetworkmanager.so").is_file()
    assert (plugins / "platforms" / "libqxcb.so").is_file()
    data = self_test(FROZEN, tmp_path, "--no-keyring")
    assert data["qt"]["collation"] == "ok", data["qt"]
    assert data["qt"]["timezone_name"] == "Central European Standard Time", data["qt"]
    assert "networkmanager" in data["qt"]["network_backends"], data["qt"]


@pytest.mark.slow
@pytest.mark.keyring
@packaging_only
def test_frozen_self_test_on_the_real_keyring(built, keyring_env, tmp_path):
    data = self_test(FROZEN, tmp_path, env=keyring_env.client_env())
    assert data["ok"], data
    assert data["keyring"]["backend"] == "keyring.backends.SecretService.Keyring"
    assert data["keyring"]["roundtrip"] == "set/get/delete ok"
    report(f"frozen keyring round trip {data['keyring']['seconds']:.3f} s (SecretService)")


def dpkg(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=600, check=check)


def installed() -> bool:
    result = dpkg("-s", INFO.app_id, check=False)
    return result.returncode == 0 and "Status: install ok installed" in result.stdout


def tray_under_x11(tmp_path: Path, bus_address: str | None) -> None:
    """Start the installed tray on a real X tray; time to icon, idle RSS, a screenshot."""
    try:
        from tests.e2e.test_tray_x11 import NEEDED, Desktop, rss_kb
    except ImportError as exc:
        report(f"installed tray: not checked ({exc})")
        return
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        report(f"installed tray: not checked (missing {', '.join(missing)})")
        return
    desktop = Desktop(tmp_path)
    try:
        desktop.start()
    except BaseException:
        desktop.stop()  # Xvfb may be up even when trayer was not
        raise
    env = dict(desktop.env)
    env.update(HOME=str(tmp_path / "user"), LICENSE_COMPANION_HOME=str(tmp_path / "tray-home"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    if bus_address:  # the private Secret Service's bus: no StatusNotifierWatcher, so XEmbed
        env["DBUS_SESSION_BUS_ADDRESS"] = bus_address
    started = time.monotonic()
    tray = subprocess.Popen([f"/usr/bin/{INFO.app_id}", "tray"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: desktop.docked_icon(tray.pid), 30, "the installed tray's icon to dock", step=0.02)
        report(f"installed tray: start to icon {time.monotonic() - started:.2f} s")
        time.sleep(3)
        report(f"installed tray: idle RSS {rss_kb(tray.pid) / 1024:.0f} MiB")
        shot = desktop.shot("packaging-installed-tray")
        report(f"installed tray: screenshot {shot}")
    finally:
        terminate(tray)
        desktop.stop()


@pytest.mark.slow
@packaging_only
@pytest.mark.skipif(shutil.which("dpkg") is None or os.geteuid() != 0, reason="needs dpkg and root")
def test_deb_installs_runs_and_purges_cleanly(built, tmp_path, request):
    deb = built
    try:
        service = request.getfixturevalue("keyring_env")
    except pytest.skip.Exception:
        service = None  # no gnome-keyring here: the installed app is checked without one
    if installed() or dpkg("-s", INFO.app_id, check=False).returncode == 0:
        dpkg("-P", INFO.app_id)
    listing = dpkg("--contents", str(deb)).stdout.splitlines()
    paths = [line.split(None, 5)[5].split(" -> ")[0].lstrip(".").rstrip("/") for line in listing]
    paths = [p for p in paths if p]
    existed = {p for p in paths if os.path.lexists(p)}
    try:
        started = time.monotonic()
        dpkg("-i", str(deb))
        report(f"dpkg -i {time.monotonic() - started:.1f} s")
        assert installed()
        exe = Path(f"/usr/bin/{INFO.app_id}")
        assert exe.is_symlink() and exe.resolve() == Path(f"/opt/{INFO.app_id}/{INFO.app_id}")
        data = self_test(exe, tmp_path, *([] if service else ["--no-keyring"]),
                         env=service.client_env() if service else None)
        assert data["ok"] and data["frozen"], data
        assert data["resources"]["path"] == f"/opt/{INFO.app_id}/_internal/resources"
        if service:
            assert data["keyring"]["roundtrip"] == "set/get/delete ok"
            report("installed --self-test: keyring round trip ok (SecretService)")
        desktop_file = Path(f"/usr/share/applications/{INFO.app_id}.desktop").read_text()
        assert f"Exec={INFO.app_id} tray" in desktop_file
        autostart = Path(f"/etc/xdg/autostart/{INFO.app_id}.desktop")
        assert autostart.is_file()
        if shutil.which("desktop-file-validate"):
            subprocess.run(["desktop-file-validate", str(autostart)], check=True)
        # The tray's "Start at login" switch sees the package's entry and turns it off per user.
        from app.support.autostart import Autostart

        switch = Autostart(command=[str(exe), "tray"], platform="linux",
                           environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg-switch")}, home=tmp_path)
        assert switch.is_enabled()
        switch.disable()
        assert not switch.is_enabled()
        override = tmp_path / "xdg-switch" / "autostart" / autostart.name
        assert "Hidden=true" in override.read_text() and autostart.is_file()
        tray_under_x11(tmp_path, service.address if service else None)

        dpkg("-r", INFO.app_id)
        assert not os.path.lexists(f"/opt/{INFO.app_id}") and not exe.exists()
        assert autostart.is_file(), "conffiles stay after remove (policy 10.7.3) until purge"
        dpkg("-P", INFO.app_id)
    finally:
        if dpkg("-s", INFO.app_id, check=False).returncode == 0:
            dpkg("-P", INFO.app_id, check=False)
    assert dpkg("-s", INFO.app_id, check=False).returncode != 0
    left = sorted(p for p in paths if p not in existed and os.path.lexists(p))
    assert left == [], f"left behind after purge: {left}"
    report(f"dpkg -r/-P: nothing left of {len(paths)} paths (shared dirs that existed before stay)")


@pytest.mark.slow
@packaging_only
@pytest.mark.skipif(not (shutil.which("makensis") and Path("/usr/lib/wine/wine64").is_file()),
                    reason="needs makensis and wine64 (Debian: nsis wine64)")
def test_nsis_silent_install_and_uninstall_under_wine(tmp_path):
    """The installer's own logic (files, Start menu, Run key, uninstall entry, opt-in data removal).

    The payload is a placeholder: this proves the NSIS script, not the Windows build of the app.
    """
    setup = compile_nsis(tmp_path)
    prefix = tmp_path / "wine"
    env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    env.pop("DISPLAY", None)

    def wine(*args: str) -> None:
        subprocess.run(["/usr/lib/wine/wine64", *args], env=env, check=True, timeout=300,
                       capture_output=True)
        subprocess.run(["/usr/lib/wine/wineserver", "-w"], env=env, timeout=120)

    def user_reg() -> str:
        return (prefix / "user.reg").read_text(encoding="utf-8", errors="replace")

    local = prefix / "drive_c/users" / pwd.getpwuid(os.getuid()).pw_name / "AppData/Local"
    instdir = local / "Programs" / INFO.display_name
    state = local / INFO.app_id
    started = time.monotonic()
    for remove_data in (False, True):
        wine(str(setup), "/S")
        assert (instdir / f"{INFO.app_id}-tray.exe").is_file()
        assert (instdir / "uninstall.exe").is_file()
        reg = user_reg()
        assert f'"{INFO.app_id}"="\\"C:\\\\users' in reg and "-tray.exe\\\" tray\"" in reg  # Run key
        assert f"Uninstall\\\\{INFO.app_id}]" in reg
        (state / "logs").mkdir(parents=True, exist_ok=True)
        (state / "settings.json").write_text("{}")
        # _?= keeps the uninstaller in place so the call waits for it.
        wine(str(instdir / "uninstall.exe"), "/S", *(["/REMOVEDATA"] if remove_data else []),
             f"_?={'C:' + str(instdir).split('drive_c', 1)[1]}".replace("/", "\\"))
        reg = user_reg()
        assert not (instdir / "_internal").exists() and not (instdir / f"{INFO.app_id}.exe").exists()
        assert f"Uninstall\\\\{INFO.app_id}]" not in reg
        assert f'"{INFO.app_id}"="' not in reg
        assert state.exists() is (not remove_data), f"state dir after uninstall (/REMOVEDATA={remove_data})"
    report(f"NSIS under wine64: silent install + uninstall twice in {time.monotonic() - started:.1f} s")
