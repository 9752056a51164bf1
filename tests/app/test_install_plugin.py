"""seam-refine install-plugin: per-OS folders, installed files, zips, exec bit, byte-identical client."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from seamrefine.app import install_plugin as ip

REPO = Path(__file__).resolve().parents[2]
COMMON = REPO / "plugins" / "common"
SHARED = ("seamrefine_client.py", "seamrefine_policy.py")  # what both plug-ins embed
HOME = Path("/home/artist")
APPDATA = {"APPDATA": r"C:\Users\artist\AppData\Roaming"}

EXPECTED = {
    ("krita", "linux"): HOME / ".local/share/krita/pykrita",
    ("krita", "flatpak"): HOME / ".var/app/org.kde.krita/data/krita/pykrita",
    ("krita", "windows"): Path(APPDATA["APPDATA"]) / "krita" / "pykrita",
    ("krita", "macos"): HOME / "Library/Application Support/krita/pykrita",
    ("gimp", "linux"): HOME / ".config/GIMP/3.0/plug-ins",
    ("gimp", "flatpak"): HOME / ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins",
    ("gimp", "windows"): Path(APPDATA["APPDATA"]) / "GIMP" / "3.0" / "plug-ins",
    ("gimp", "macos"): HOME / "Library/Application Support/GIMP/3.0/plug-ins",
}


@pytest.mark.parametrize("host,system", list(EXPECTED))
def test_plugin_dir_per_os(host, system):
    assert ip.plugin_dir(host, system, HOME, APPDATA) == EXPECTED[host, system]


def test_plugin_dir_windows_without_appdata_and_bad_names():
    assert ip.plugin_dir("krita", "windows", HOME, {}) == HOME / "AppData/Roaming/krita/pykrita"
    with pytest.raises(ValueError, match="unknown host"):
        ip.plugin_dir("photoshop", "linux", HOME, {})


def test_detect_system(tmp_path):
    assert ip.detect_system("krita", tmp_path, "win32") == "windows"
    assert ip.detect_system("gimp", tmp_path, "darwin") == "macos"
    assert ip.detect_system("krita", tmp_path, "linux") == "linux"
    (tmp_path / ".var/app/org.kde.krita").mkdir(parents=True)
    assert ip.detect_system("krita", tmp_path, "linux") == "flatpak"
    (tmp_path / ".local/share/krita").mkdir(parents=True)
    assert ip.detect_system("krita", tmp_path, "linux") == "linux"  # a native profile wins


def test_install_krita_into_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(ip.sys, "platform", "linux")
    assert ip.main(["install-plugin", "krita"]) == 0
    dest = tmp_path / ".local/share/krita/pykrita"
    assert (dest / "seam_refine.desktop").is_file()
    for name in ("__init__.py", "host.py", "ui.py", "pixels.py", "qt.py"):
        assert (dest / "seam_refine" / name).is_file()
    for name in SHARED:
        assert (dest / "seam_refine" / name).read_bytes() == (COMMON / name).read_bytes()
    assert "Python Plugin Manager" in capsys.readouterr().out
    # the default shortcut: Krita reads it from the actions folder beside pykrita
    action = tmp_path / ".local/share/krita/actions/seam_refine.action"
    assert action.read_bytes() == (REPO / "plugins/krita/seam_refine.action").read_bytes()
    assert "<shortcut>Ctrl+Alt+R</shortcut>" in action.read_text()
    assert "<Action name=\"seam_refine_run\">" in action.read_text()


def test_install_gimp_with_exec_bit(tmp_path):
    assert ip.main(["gimp", "--dest", str(tmp_path)]) == 0
    folder = tmp_path / "seam-refine"
    src = REPO / "plugins/gimp/seam-refine"
    expected = {p.name for p in src.iterdir() if p.is_file() and not p.name.endswith(".pyc")}
    assert expected <= {p.name for p in folder.iterdir()}
    assert os.stat(folder / "seam-refine.py").st_mode & stat.S_IXUSR
    for name in SHARED:
        assert (folder / name).read_bytes() == (COMMON / name).read_bytes()


def test_reinstall_replaces_old_files(tmp_path):
    ip.install("krita", tmp_path)
    stale = tmp_path / "seam_refine" / "old_module.py"
    stale.write_text("x")
    ip.install("krita", tmp_path)
    assert not stale.exists() and (tmp_path / "seam_refine" / "host.py").is_file()


def test_krita_zip_layout(tmp_path):
    assert ip.main(["krita", "--zip", str(tmp_path / "seam_refine.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "seam_refine.zip") as zf:
        names = set(zf.namelist())
        assert "seam_refine.desktop" in names and "seam_refine/__init__.py" in names
        assert "seam_refine.action" in names  # Krita's importer puts it in the actions folder
        for name in SHARED:
            assert zf.read(f"seam_refine/{name}") == (COMMON / name).read_bytes()
        assert not any("__pycache__" in n for n in names)


def test_gimp_zip_keeps_exec_bit(tmp_path):
    ip.write_zip("gimp", tmp_path / "g.zip")
    with zipfile.ZipFile(tmp_path / "g.zip") as zf:
        info = zf.getinfo("seam-refine/seam-refine.py")
        assert (info.external_attr >> 16) & 0o111
        for name in SHARED:
            assert zf.read(f"seam-refine/{name}") == (COMMON / name).read_bytes()


def test_every_shared_module_copy_in_the_repo_is_identical():
    """The repo holds one source of each shared module; any copy (plugin dir, zip) must be byte-identical."""
    sources = {name: (COMMON / name).read_bytes() for name in SHARED}
    skip = {".git", ".venv", "venv", "node_modules", ".pytest_cache"}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = Path(root) / name
            if name in sources and path != COMMON / name:
                assert path.read_bytes() == sources[name], f"{path} differs from {COMMON / name}"
            elif name.endswith(".zip"):
                with zipfile.ZipFile(path) as zf:
                    for member in zf.namelist():
                        base = member.rsplit("/", 1)[-1]
                        if base in sources:
                            assert zf.read(member) == sources[base], f"{path}:{member} differs"


def test_shared_modules_are_what_plugins_common_holds():
    assert set(ip.common_files()) == set(SHARED) == {p.name for p in COMMON.glob("*.py")}
