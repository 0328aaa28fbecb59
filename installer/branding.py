"""Build metadata and vendor branding, shared by ``build.spec`` and the installer scripts.

Why a separate module: ``build.spec``, ``build-deb.sh`` and the NSIS compile must agree on the
name, version and icon, and none of them may import ``app`` (that would pull in keyring, requests
and cryptography just to read a version string). So the metadata is read by parsing
``app/__init__.py`` with ``ast``, and this file only uses the standard library.

Branding: a vendor points ``LC_BRANDING`` (or ``--branding``) at a folder laid out like
``branding/example/``::

    branding.toml        display name, publisher, homepage, maintainer, summary (all optional)
    resources/           copied over the app's resources/ file by file: companion.toml,
                         icons/app.png (256x256) / icons/app.svg, icons/app.ico, icons/app.icns, texts

Nothing in ``app/`` changes; the frozen app finds the overlaid files through
``app/storage/resources.py`` as usual.

Command line (for shell scripts)::

    python installer/branding.py --shell            # KEY='value' lines to eval
    python installer/branding.py --stage DIR        # resources/ + overlay copied into DIR
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import shutil
import sys
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRANDING_ENV = "LC_BRANDING"
# Icon names the installers look for under resources/icons/, best first.
APP_ICON_PNG = ("app.png", "app-256.png", "app-128.png")
APP_ICON_SVG = ("app.svg",)


@dataclass(frozen=True)
class BuildInfo:
    """Everything an installer needs to name and version the product."""

    app_id: str           # package / executable / folder name; also the state dir and keyring service
    version: str          # from app/__init__.py
    display_name: str     # shown in menus, Add/Remove Programs, the .app bundle
    publisher: str
    homepage: str
    maintainer: str       # Debian "Maintainer:" (Name <mail>)
    summary: str          # one line for menus and the package description
    branding_dir: str     # "" when the product ships unbranded

    @property
    def windows_version(self) -> str:
        """``VIProductVersion`` wants exactly four numbers."""
        parts = [p for p in self.version.replace("-", ".").split(".") if p.isdigit()][:4]
        return ".".join(parts + ["0"] * (4 - len(parts)))


def read_package_metadata(init_file: Path | None = None) -> dict[str, str]:
    """``NAME``, ``APP_ID``, ``ORGANIZATION`` and ``__version__`` from ``app/__init__.py``, unimported.

    Raises:
        ValueError: if one of them is missing or not a plain string literal.
    """
    init_file = init_file or ROOT / "app" / "__init__.py"
    tree = ast.parse(init_file.read_text(encoding="utf-8"), str(init_file))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    missing = [k for k in ("NAME", "APP_ID", "__version__") if k not in found]
    if missing:
        raise ValueError(f"{init_file}: no string literal for {', '.join(missing)}")
    return found


def login_item_label(autostart_file: Path | None = None) -> str:
    """The LaunchAgent label the tray's "Start at login" switch uses (``BUNDLE_ID``).

    Read from ``app/support/autostart.py`` so the plist an installer writes and the one the
    tray toggles are the same file with the same label.
    """
    autostart_file = autostart_file or ROOT / "app" / "support" / "autostart.py"
    tree = ast.parse(autostart_file.read_text(encoding="utf-8"), str(autostart_file))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if any(isinstance(t, ast.Name) and t.id == "BUNDLE_ID" for t in node.targets):
                return str(node.value.value)
    raise ValueError(f"{autostart_file}: no BUNDLE_ID")


def branding_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The vendor's branding folder: the argument, else ``$LC_BRANDING``, else none."""
    chosen = explicit or os.environ.get(BRANDING_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"branding folder {path} does not exist ({BRANDING_ENV})")
    return path


def build_info(branding: str | os.PathLike[str] | None = None, init_file: Path | None = None) -> BuildInfo:
    """Package metadata with the vendor's ``branding.toml`` on top."""
    meta = read_package_metadata(init_file)
    folder = branding_dir(branding)
    brand: dict[str, str] = {}
    if folder and (folder / "branding.toml").is_file():
        with open(folder / "branding.toml", "rb") as fh:
            data = tomllib.load(fh)
        brand = {k: str(v) for k, v in data.get("product", {}).items()}
        unknown = set(brand) - {"display_name", "publisher", "homepage", "maintainer", "summary"}
        if unknown:
            raise ValueError(f"{folder / 'branding.toml'}: unknown [product] keys {sorted(unknown)}")
    publisher = brand.get("publisher", meta.get("ORGANIZATION", meta["NAME"]))
    return BuildInfo(
        app_id=meta["APP_ID"],
        version=meta["__version__"],
        display_name=brand.get("display_name", meta["NAME"]),
        publisher=publisher,
        homepage=brand.get("homepage", "https://example.invalid/license-companion"),
        maintainer=brand.get("maintainer", f"{publisher} <packaging@example.invalid>"),
        summary=brand.get("summary", "License key in the OS keyring, telemetry only with consent"),
        branding_dir=str(folder or ""),
    )


def stage_resources(dest: Path, branding: str | os.PathLike[str] | None = None) -> Path:
    """Copy ``resources/`` to ``dest`` and lay the vendor's ``resources/`` over it.

    Returns ``dest``. The copy is fresh each time so a file removed from the overlay does not
    linger from an earlier build.
    """
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "resources", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    folder = branding_dir(branding)
    if folder and (folder / "resources").is_dir():
        shutil.copytree(folder / "resources", dest, dirs_exist_ok=True)
    if not (dest / "companion.toml").is_file():
        raise FileNotFoundError(f"{dest}: companion.toml missing after staging")
    return dest


def find_icon(resources: Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` under ``resources/icons``, or None."""
    for name in names:
        candidate = resources / "icons" / name
        if candidate.is_file():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    """``--shell`` prints the metadata for ``eval``; ``--stage DIR`` stages resources."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branding", help=f"branding folder (default: ${BRANDING_ENV})")
    parser.add_argument("--shell", action="store_true", help="print LC_* shell assignments")
    parser.add_argument("--stage", metavar="DIR", help="stage resources/ with the overlay into DIR")
    args = parser.parse_args(argv)
    info = build_info(args.branding)
    if args.stage:
        staged = stage_resources(Path(args.stage), args.branding)
        print(staged)
    if args.shell:
        values = asdict(info) | {"windows_version": info.windows_version}
        for key, value in values.items():
            print(f"LC_{key.upper()}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
