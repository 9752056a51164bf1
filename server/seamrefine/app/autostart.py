"""Start the daemon at login: a systemd user unit (Type=notify), else an XDG autostart entry on Linux;
a LaunchAgent on macOS; a hidden ``.vbs`` in the Startup folder (or a ``schtasks`` logon task) on Windows.

Every function takes ``root``: when given, files go under it as if it were the home directory and no
service manager is called, so tests (and packagers) can generate and inspect all three variants.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

UNIT = "seam-refine.service"
DESKTOP = "seam-refine.desktop"
LABEL = "org.seamrefine.daemon"
VBS = "seam-refine.vbs"
TASK = "SeamRefine"


def serve_command(python: str | None = None) -> list[str]:
    """The absolute command line that runs the daemon with the current interpreter."""
    return [python or str(Path(sys.executable).absolute()), "-m", "seamrefine.app.cli", "serve"]


def current_system() -> str:
    return "darwin" if sys.platform == "darwin" else "windows" if os.name == "nt" else "linux"


def _systemd_quote(arg: str) -> str:
    arg = arg.replace("%", "%%")
    if any(c in arg for c in " \t\"'\\;$"):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def systemd_unit(cmd: list[str]) -> str:
    """A systemd user unit: Type=notify (the daemon sends READY=1), restarted on failure."""
    return "\n".join(
        [
            "[Unit]",
            "Description=Seam Refine daemon (removes generative-fill seams for Krita/GIMP)",
            "",
            "[Service]",
            "Type=notify",
            "ExecStart=" + " ".join(_systemd_quote(a) for a in cmd),
            "Restart=on-failure",
            "RestartSec=2",
            "TimeoutStartSec=120",
            "Environment=PYTHONUNBUFFERED=1",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def _desktop_quote(arg: str) -> str:
    arg = arg.replace("%", "%%")
    if any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return arg


def desktop_entry(cmd: list[str]) -> str:
    """An XDG autostart entry (for desktops without a systemd user session)."""
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=Seam Refine daemon",
            "Comment=Removes generative-fill seams for Krita and GIMP",
            "Exec=" + " ".join(_desktop_quote(a) for a in cmd),
            "Terminal=false",
            "NoDisplay=true",
            "X-GNOME-Autostart-enabled=true",
            "",
        ]
    )


def launchd_plist(cmd: list[str], log_dir: Path) -> str:
    """A LaunchAgent: run at load, restarted when it exits unsuccessfully."""
    return plistlib.dumps(
        {
            "Label": LABEL,
            "ProgramArguments": cmd,
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ProcessType": "Background",
            "StandardOutPath": str(log_dir / "launchd.out.log"),
            "StandardErrorPath": str(log_dir / "launchd.err.log"),
        }
    ).decode()


def _windowless(cmd: list[str]) -> list[str]:
    exe = cmd[0]
    if exe.lower().endswith("python.exe"):
        exe = exe[: -len("python.exe")] + "pythonw.exe"
    return [exe, *cmd[1:]]


def _win_cmdline(cmd: list[str]) -> str:
    return subprocess.list2cmdline(cmd)


def startup_vbs(cmd: list[str]) -> str:
    """A Startup-folder script that runs the daemon with no console window (pythonw when present)."""
    line = _win_cmdline(_windowless(cmd)).replace('"', '""')
    return f'\' Seam Refine daemon autostart\r\nCreateObject("WScript.Shell").Run "{line}", 0, False\r\n'


def schtasks_create(cmd: list[str]) -> list[str]:
    """Alternative to the Startup folder: a per-user logon task."""
    return [
        "schtasks",
        "/Create",
        "/TN",
        TASK,
        "/SC",
        "ONLOGON",
        "/RL",
        "LIMITED",
        "/F",
        "/TR",
        _win_cmdline(_windowless(cmd)),
    ]


def systemd_user_available() -> bool:
    """Whether ``systemctl --user`` talks to a running user manager."""
    if not shutil.which("systemctl"):
        return False
    try:
        r = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@dataclass
class Plan:
    """What installing autostart means here: files to write and service-manager commands to run."""

    system: str
    kind: str
    files: dict[Path, str] = field(default_factory=dict)
    install_cmds: list[list[str]] = field(default_factory=list)
    uninstall_cmds: list[list[str]] = field(default_factory=list)


def plan(
    system: str | None = None,
    root: Path | None = None,
    python: str | None = None,
    systemd: bool | None = None,
) -> Plan:
    """The autostart plan for ``system`` ("linux", "darwin", "windows"; default: this one)."""
    system = system or current_system()
    home = Path(root) if root is not None else Path.home()
    cmd = serve_command(python)
    if system == "linux":
        xdg = os.environ.get("XDG_CONFIG_HOME") if root is None else None
        config = Path(xdg) if xdg else home / ".config"
        if systemd if systemd is not None else (root is None and systemd_user_available()):
            ctl = ["systemctl", "--user"]
            return Plan(
                system,
                "systemd",
                {config / "systemd" / "user" / UNIT: systemd_unit(cmd)},
                [ctl + ["daemon-reload"], ctl + ["enable", "--now", UNIT]],
                [ctl + ["disable", "--now", UNIT], ctl + ["daemon-reload"]],
            )
        return Plan(system, "xdg-autostart", {config / "autostart" / DESKTOP: desktop_entry(cmd)})
    if system == "darwin":
        path = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        domain = f"gui/{os.getuid()}" if hasattr(os, "getuid") else "gui/501"
        return Plan(
            system,
            "launchd",
            {path: launchd_plist(cmd, home / "Library" / "Logs" / "seam-refine")},
            [["launchctl", "bootstrap", domain, str(path)]],
            [["launchctl", "bootout", f"{domain}/{LABEL}"]],
        )
    if system == "windows":
        appdata = (
            Path(os.environ["APPDATA"])
            if root is None and "APPDATA" in os.environ
            else (home / "AppData" / "Roaming")
        )
        startup = appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
        return Plan(system, "startup-folder", {startup / VBS: startup_vbs(cmd)})
    raise InputError(f"unknown system {system!r}; expected linux, darwin or windows", system)


def install(
    system: str | None = None,
    root: Path | None = None,
    python: str | None = None,
    systemd: bool | None = None,
) -> list[Path]:
    """Write the autostart files (and, without ``root``, enable them); the paths written."""
    p = plan(system, root, python, systemd)
    for path, text in p.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    if root is None:
        for cmd in p.install_cmds:
            subprocess.run(cmd, check=False, capture_output=True, timeout=30)
    return list(p.files)


def uninstall(system: str | None = None, root: Path | None = None, systemd: bool | None = None) -> list[Path]:
    """Disable and remove what ``install`` wrote (every variant for this system); the paths removed."""
    removed = []
    variants = [plan(system, root, systemd=s) for s in ((True, False) if systemd is None else (systemd,))]
    for p in variants:
        if root is None and any(path.exists() for path in p.files):
            for cmd in p.uninstall_cmds:
                subprocess.run(cmd, check=False, capture_output=True, timeout=30)
        for path in p.files:
            if path.exists():
                path.unlink()
                removed.append(path)
    return removed


def status(system: str | None = None, root: Path | None = None) -> str:
    """One line: which autostart file is installed, if any."""
    for s in (True, False):
        p = plan(system, root, systemd=s)
        for path in p.files:
            if path.exists():
                return f"installed ({p.kind}: {path})"
    return "not installed (seam-refine daemon install-autostart)"
