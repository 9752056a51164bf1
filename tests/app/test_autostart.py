"""Autostart files for all three systems, generated under a temporary root (no service manager is called);
the systemd unit is checked with ``systemd-analyze verify`` where that tool exists."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys

import pytest
from seamrefine.app import autostart
from seamrefine.errors import InputError

PY = "/opt/py env/bin/python3"


def test_command_uses_the_current_interpreter():
    cmd = autostart.serve_command()
    assert cmd[0] == str(__import__("pathlib").Path(sys.executable).absolute())
    assert cmd[1:] == ["-m", "seamrefine.app.cli", "serve"]


def test_systemd_unit(tmp_path):
    paths = autostart.install("linux", tmp_path, systemd=True)
    assert paths == [tmp_path / ".config" / "systemd" / "user" / "seam-refine.service"]
    text = paths[0].read_text()
    for line in (
        "Type=notify",
        "Restart=on-failure",
        "WantedBy=default.target",
        f"ExecStart={sys.executable} -m seamrefine.app.cli serve",
    ):
        assert line in text.splitlines()
    assert "installed (systemd" in autostart.status("linux", tmp_path)
    assert autostart.uninstall("linux", tmp_path) == paths and not paths[0].exists()
    assert autostart.status("linux", tmp_path).startswith("not installed")


def test_systemd_quoting():
    unit = autostart.systemd_unit([PY, "-m", "seamrefine.app.cli", "serve", "--model", "/x/50%.onnx"])
    assert 'ExecStart="/opt/py env/bin/python3" -m seamrefine.app.cli serve --model /x/50%%.onnx' in unit


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify(tmp_path):
    (path,) = autostart.install("linux", tmp_path, systemd=True)
    r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "seam-refine.service" not in r.stderr, r.stderr  # no warnings about our unit


def test_xdg_autostart_fallback(tmp_path):
    (path,) = autostart.install("linux", tmp_path, python=PY, systemd=False)
    assert path == tmp_path / ".config" / "autostart" / "seam-refine.desktop"
    lines = path.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]" and "Type=Application" in lines and "Terminal=false" in lines
    assert 'Exec="/opt/py env/bin/python3" -m seamrefine.app.cli serve' in lines
    assert "installed (xdg-autostart" in autostart.status("linux", tmp_path)
    assert autostart.uninstall("linux", tmp_path) == [path]


def test_macos_launch_agent(tmp_path):
    (path,) = autostart.install("darwin", tmp_path, python=PY)
    assert path == tmp_path / "Library" / "LaunchAgents" / "org.seamrefine.daemon.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["Label"] == "org.seamrefine.daemon"
    assert plist["ProgramArguments"] == [PY, "-m", "seamrefine.app.cli", "serve"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    p = autostart.plan("darwin", tmp_path, python=PY)
    assert p.install_cmds[0][:2] == ["launchctl", "bootstrap"] and p.uninstall_cmds[0][1] == "bootout"
    assert autostart.uninstall("darwin", tmp_path) == [path]


def test_windows_startup_script_and_task(tmp_path):
    exe = r"C:\Program Files\Python311\python.exe"
    (path,) = autostart.install("windows", tmp_path, python=exe)
    assert path.parent == tmp_path / "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup"
    text = path.read_bytes().decode()
    assert text.endswith("\r\n")
    assert 'Run """C:\\Program Files\\Python311\\pythonw.exe"" -m seamrefine.app.cli serve", 0, False' in text
    task = autostart.schtasks_create([exe, "-m", "seamrefine.app.cli", "serve"])
    assert task[:3] == ["schtasks", "/Create", "/TN"] and "ONLOGON" in task
    assert task[-1] == '"C:\\Program Files\\Python311\\pythonw.exe" -m seamrefine.app.cli serve'
    assert autostart.uninstall("windows", tmp_path) == [path]


def test_unknown_system():
    with pytest.raises(InputError):
        autostart.plan("plan9")
