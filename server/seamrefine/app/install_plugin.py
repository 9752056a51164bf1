"""``seam-refine install-plugin krita|gimp [--dest DIR] [--zip OUT.zip]``.

Copies the Krita (pykrita) or GIMP 3 plug-in from the ``seamrefine_plugins`` package data into the
host's plug-in folder, adding byte-identical copies of the modules both plug-ins share
(``plugins/common/``: the stdlib client ``seamrefine_client.py`` and ``seamrefine_policy.py``); or
writes a zip (Krita: for Tools ▸ Scripts ▸ Import Python Plugin from File…).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import zipfile
from importlib import resources
from pathlib import Path

HOSTS = ("krita", "gimp")
SYSTEMS = ("linux", "flatpak", "windows", "macos")
KRITA_NAME = "seam_refine"
# Krita reads default shortcuts (Ctrl+Alt+R) from .action files in the "actions" folder beside "pykrita"
KRITA_ACTIONS = KRITA_NAME + ".action"
GIMP_NAME = "seam-refine"
FLATPAK_IDS = {"krita": "org.kde.krita", "gimp": "org.gimp.GIMP"}


def plugin_dir(host: str, system: str, home: Path, environ: dict | None = None) -> Path:
    """The folder the host loads plug-ins from, for ``system`` in linux/flatpak/windows/macos."""
    if host not in HOSTS or system not in SYSTEMS:
        raise ValueError(f"unknown host/system {host!r}/{system!r}")
    environ = os.environ if environ is None else environ
    home = Path(home)
    appdata = Path(environ.get("APPDATA") or home / "AppData" / "Roaming")
    if host == "krita":
        return {
            "linux": home / ".local" / "share" / "krita" / "pykrita",
            "flatpak": home / ".var" / "app" / "org.kde.krita" / "data" / "krita" / "pykrita",
            "windows": appdata / "krita" / "pykrita",
            "macos": home / "Library" / "Application Support" / "krita" / "pykrita",
        }[system]
    return {
        "linux": home / ".config" / "GIMP" / "3.0" / "plug-ins",
        "flatpak": home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0" / "plug-ins",
        "windows": appdata / "GIMP" / "3.0" / "plug-ins",
        "macos": home / "Library" / "Application Support" / "GIMP" / "3.0" / "plug-ins",
    }[system]


def detect_system(host: str, home: Path, platform: str | None = None) -> str:
    """linux/flatpak/windows/macos for this machine; Flatpak when only the Flatpak app has a profile."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    native = plugin_dir(host, "linux", home).parents[0 if host == "krita" else 1]
    flatpak = Path(home) / ".var" / "app" / FLATPAK_IDS[host]
    return "flatpak" if flatpak.is_dir() and not native.is_dir() else "linux"


def plugin_files(host: str) -> dict[str, bytes]:
    """Relative path → content of every file the installed plug-in consists of (client included)."""
    root = resources.files("seamrefine_plugins")
    files: dict[str, bytes] = {}
    if host == "krita":
        files[KRITA_NAME + ".desktop"] = root.joinpath("krita", KRITA_NAME + ".desktop").read_bytes()
        files[KRITA_ACTIONS] = root.joinpath("krita", KRITA_ACTIONS).read_bytes()
        _collect(root.joinpath("krita", KRITA_NAME), KRITA_NAME, files)
        folder = KRITA_NAME
    else:
        _collect(root.joinpath("gimp", GIMP_NAME), GIMP_NAME, files)
        folder = GIMP_NAME
    for name, data in common_files().items():
        files[f"{folder}/{name}"] = data
    return files


def common_files() -> dict[str, bytes]:
    """File name → content of the modules both plug-ins embed (``plugins/common/*.py``)."""
    common = resources.files("seamrefine_plugins").joinpath("common")
    return {f.name: f.read_bytes() for f in common.iterdir() if f.name.endswith(".py")}


def _collect(node, prefix: str, out: dict[str, bytes]) -> None:
    if not node.is_dir():
        raise FileNotFoundError(f"plug-in sources missing: {node}")
    for child in node.iterdir():
        if child.name == "__pycache__" or child.name.endswith((".pyc", ".pyo")):
            continue
        rel = f"{prefix}/{child.name}"
        if child.is_dir():
            _collect(child, rel, out)
        else:
            out[rel] = child.read_bytes()


def _is_executable(host: str, rel: str) -> bool:
    return host == "gimp" and rel == f"{GIMP_NAME}/{GIMP_NAME}.py"


def target(host: str, dest: Path, rel: str) -> Path:
    """Where the plug-in file ``rel`` is installed for plug-in folder ``dest``: Krita's .action file in
    the ``actions`` folder beside it (where Krita's importer puts it too), everything else below it."""
    if host == "krita" and rel == KRITA_ACTIONS:
        return Path(dest).parent / "actions" / rel
    return Path(dest) / rel


def install(host: str, dest: Path) -> list[Path]:
    """Write the plug-in below ``dest`` (replacing an older copy of it); returns the written files."""
    dest = Path(dest)
    written = []
    top = dest / (KRITA_NAME if host == "krita" else GIMP_NAME)
    if top.is_dir():
        for old in sorted(top.rglob("*"), reverse=True):
            old.rmdir() if old.is_dir() else old.unlink()
    for rel, data in plugin_files(host).items():
        path = target(host, dest, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if _is_executable(host, rel):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)
    return written


def write_zip(host: str, out: Path) -> Path:
    """A zip holding the plug-in folder (and, for Krita, the .desktop and .action files) at its top
    level, as Krita's Tools ▸ Scripts ▸ Import Python Plugin from File… expects."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in sorted(plugin_files(host).items()):
            info = zipfile.ZipInfo(rel, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if _is_executable(host, rel) else 0o644) << 16
            zf.writestr(info, data)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["install-plugin"]:
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="seam-refine install-plugin",
                                     description="Install the Seam Refine plug-in into Krita or GIMP 3.")
    parser.add_argument("host", choices=HOSTS)
    parser.add_argument("--dest", type=Path, help="plug-in folder to install into (default: the host's own)")
    parser.add_argument("--system", choices=SYSTEMS, help="which install layout to use (default: detected)")
    parser.add_argument("--zip", type=Path, metavar="OUT.zip", help="write a zip instead of installing")
    args = parser.parse_args(argv)
    if args.zip:
        out = write_zip(args.host, args.zip)
        print(f"Wrote {out}")
        if args.host == "krita":
            print("In Krita: Tools ▸ Scripts ▸ Import Python Plugin from File…, pick this zip, "
                  "then restart Krita.")
        return 0
    home = Path.home()
    dest = args.dest or plugin_dir(args.host, args.system or detect_system(args.host, home), home)
    install(args.host, dest)
    if args.host == "krita":
        print(f"Installed the Krita plug-in into {dest}.")
        print("Enable it in Settings ▸ Configure Krita ▸ Python Plugin Manager (\"Seam Refine\"), restart "
              "Krita, then use Tools ▸ Scripts ▸ Seam Refine (Ctrl+Alt+R).")
    else:
        print(f"Installed the GIMP plug-in into {dest / GIMP_NAME}. Restart GIMP; it appears as "
              "Filters ▸ Enhance ▸ Seam Refine….")
    print("The plug-in needs the daemon: `seam-refine serve` (or `seam-refine daemon install-autostart`).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
