"""Runs INSIDE the GIMP chroot (``hosts.sh shell python3 gui_driver.py …``): real GIMP 3 with its GUI on a
private Xvfb, a fresh profile holding the plug-in, a batch script, and the hands of an artist.

    python3 gui_driver.py WORK_DIR PLUGIN_DIR SCRIPT SPEC_JSON     (WORK_DIR bound into the chroot)

The batch script (dialog_case.py, cancel_case.py) asks for actions by writing ``OUT/step-NN.json``
(OUT: the spec's "out_dir") and, when it needs the answer, waits for ``OUT/step-NN.done``. Steps run in
order; each is a map of optional actions, done in this order:

    "wait_file": path            until the file exists (e.g. the plug-in's own dialog dump)
    "wait_title": "Seam Refine"  until a mapped top-level window's title contains it (then: "window")
    "sleep": seconds
    "snapshot": "name.xwd"       copy the Xvfb framebuffer to WORK_DIR/name.xwd
    "geometry": true             record the window's (x, y, width, height)
    "titles": true               record every mapped window's title
    "keys": ["Return", …]        focus the window, press the keys (XTEST)
    "click_cancel": "idle.xwd"   click the status bar's Cancel button of the window: it ends the strip at
                                 the window's bottom that changed since the snapshot named here

The ``.done`` file holds what was recorded, or {"error": …} (the tests check the answers). GIMP's own
exit status is the driver's.
"""

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import xkeys  # noqa: E402

STATUS_BAR_PX = 40  # the status bar's height, at most, at the bottom of GIMP's image window
GIMP_TIMEOUT_S = 500


def read_xwd(path):
    """An Xvfb framebuffer: (width, height, bytes per line, pixel offset, data)."""
    with open(path, "rb") as f:
        data = f.read()
    header = [int.from_bytes(data[i:i + 4], "big") for i in range(0, 100, 4)]
    return header[4], header[5], header[12], header[0] + header[19] * 12, data


def changed_runs(before, after, box):
    """Columns of ``box`` (x, y, w, h) where any pixel differs between two framebuffers, as runs
    [(x0, x1, y0, y1), …] (a gap of more than 4 unchanged columns ends a run)."""
    width, height, line, off, a = read_xwd(before)
    _, _, _, off2, b = read_xwd(after)
    x, y, w, h = box
    cols = {}
    for row in range(max(0, y), min(height, y + h)):
        ra = a[off + row * line: off + row * line + width * 4]
        rb = b[off2 + row * line: off2 + row * line + width * 4]
        for col in range(max(0, x), min(width, x + w)):
            if ra[col * 4: col * 4 + 3] != rb[col * 4: col * 4 + 3]:
                lo, hi = cols.get(col, (row, row))
                cols[col] = (min(lo, row), max(hi, row))
    runs = []
    for col in sorted(cols):
        if runs and col - runs[-1][1] <= 5:
            x0, _, y0, y1 = runs[-1]
            runs[-1] = (x0, col, min(y0, cols[col][0]), max(y1, cols[col][1]))
        else:
            runs.append((col, col, cols[col][0], cols[col][1]))
    return runs


def run_step(step, work, disp):
    """Do one step; returns what it recorded."""
    found = {}
    end = time.monotonic() + float(step.get("timeout", 60))
    if step.get("wait_file"):
        while not os.path.exists(step["wait_file"]):
            if time.monotonic() > end:
                raise RuntimeError(f"no {step['wait_file']} in time")
            time.sleep(0.1)
    x = window = None
    if step.get("wait_title"):
        while window is None:
            try:
                x = xkeys.X11(disp)
                window = x.find(step["wait_title"])
            except (OSError, RuntimeError):
                window = None
            if window is None:
                if time.monotonic() > end:
                    titles = xkeys.X11(disp).titles()
                    raise RuntimeError(f"no window titled {step['wait_title']!r}; mapped: {titles}")
                time.sleep(0.2)
        time.sleep(0.6)  # let GTK finish drawing it
        found["title"] = x.name(window)
    time.sleep(float(step.get("sleep", 0)))
    if step.get("snapshot"):
        shutil.copyfile(os.path.join(work, "fb", "Xvfb_screen0"), os.path.join(work, step["snapshot"]))
    if step.get("geometry") and window is not None:
        found["geometry"] = list(x.geometry(window))
    if step.get("titles"):
        found["titles"] = xkeys.X11(disp).titles()
    if step.get("keys") and window is not None:
        x.focus(window)
        time.sleep(0.2)
        for key in step["keys"]:
            x.press(key)
            time.sleep(0.1)
    if step.get("click_cancel") and window is not None:
        now = os.path.join(work, "progress.xwd")
        shutil.copyfile(os.path.join(work, "fb", "Xvfb_screen0"), now)
        wx, wy, ww, wh = x.geometry(window)
        runs = changed_runs(os.path.join(work, step["click_cancel"]), now,
                            (wx, wy + wh - STATUS_BAR_PX, ww, STATUS_BAR_PX))
        if not runs:
            raise RuntimeError("nothing changed in the status bar: no progress, no Cancel button")
        _, x1, y0, y1 = runs[-1]  # the button ("⊘ Cancel", ~70 px) ends the status bar: click its text
        found["clicked"] = [x1 - 30, (y0 + y1) // 2]
        found["runs"] = runs
        x.click(*found["clicked"])
    return found


def free_display(first=60):
    """A display number no X server uses: no lock file here, and its abstract socket (shared with the
    host and other chroots, which the lock files are not) free to bind."""
    for n in range(first, first + 200):
        if os.path.exists(f"/tmp/.X{n}-lock"):
            continue
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.bind(f"\0/tmp/.X11-unix/X{n}")
        except OSError:
            continue
        finally:
            probe.close()
        return n
    raise RuntimeError("no free X display number")


def start_xvfb(fbdir, attempts=3):
    """A private Xvfb writing its screen to ``fbdir``: (process, display number as text)."""
    for attempt in range(attempts):
        n = free_display(60 + random.randrange(100))
        xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
                                 "-fbdir", fbdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(f"/tmp/.X11-unix/X{n}") or xvfb.poll() is not None:
                break
            time.sleep(0.05)
        if xvfb.poll() is None and os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return xvfb, str(n)
        xvfb.kill()
        xvfb.wait()
        print(f"gui_driver: Xvfb did not start on :{n} (attempt {attempt + 1})", flush=True)
        time.sleep(1 + attempt)
    raise RuntimeError("Xvfb did not start")


def start_gimp(work, home, script, spec, attempts=3):
    """Xvfb and GIMP running the batch script: (xvfb, gimp, display). GIMP is started again on a new
    display when it cannot open the first (another X server on this machine took the same number)."""
    code = ("import os, sys, runpy\nsys.argv = [os.environ['GUI_SCRIPT'], os.environ['GUI_SPEC']]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    log_path = os.path.join(work, "gimp.log")
    for attempt in range(attempts):
        xvfb, disp = start_xvfb(os.path.join(work, "fb"))
        env = dict(os.environ, HOME=home, DISPLAY=":" + disp, GUI_SCRIPT=script, GUI_SPEC=spec)
        with open(log_path, "w") as log:
            gimp = subprocess.Popen(["gimp-3.0", "--no-splash", "--no-fonts", "--stack-trace-mode=never",
                                     "--batch-interpreter=python-fu-eval", "-b", code, "--quit"],
                                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            gimp.wait(5)
        except subprocess.TimeoutExpired:
            return xvfb, gimp, disp
        with open(log_path, errors="replace") as f:
            if "Cannot open display" not in f.read():
                return xvfb, gimp, disp
        print(f"gui_driver: GIMP could not open display :{disp} (attempt {attempt + 1})", flush=True)
        xvfb.kill()
        xvfb.wait()
        time.sleep(1 + attempt)
    return xvfb, gimp, disp


def main(argv):
    """Set up the profile, start Xvfb and GIMP, do the steps the script asks for; GIMP's exit status."""
    work, plugin, script, spec = argv
    with open(spec) as f:
        out = json.load(f)["out_dir"]
    home = os.path.join(work, "home")
    plug_ins = os.path.join(home, ".config", "GIMP", "3.0", "plug-ins")
    os.makedirs(plug_ins, exist_ok=True)
    with open(os.path.join(home, ".config", "GIMP", "3.0", "gimprc"), "w") as f:
        f.write("(show-welcome-dialog no)\n")  # GIMP 3 greets a fresh profile with a dialog
    shutil.rmtree(os.path.join(plug_ins, "seam-refine"), ignore_errors=True)
    shutil.copytree(plugin, os.path.join(plug_ins, "seam-refine"))
    os.chmod(os.path.join(plug_ins, "seam-refine", "seam-refine.py"), 0o755)
    os.makedirs(os.path.join(work, "fb"), exist_ok=True)
    xvfb, gimp, disp = start_gimp(work, home, script, spec)
    n, failed, end = 0, False, time.monotonic() + GIMP_TIMEOUT_S
    try:
        while gimp.poll() is None and time.monotonic() < end:
            path = os.path.join(out, f"step-{n:02d}.json")
            if not os.path.exists(path):
                time.sleep(0.05)
                continue
            time.sleep(0.05)  # written in one go, but let the writer close it
            with open(path) as f:
                step = json.load(f)
            try:
                result = run_step(step, work, disp)
            except Exception as exc:  # noqa: BLE001 - reported to the script and in the log
                result, failed = {"error": repr(exc)}, True
            print(f"gui_driver: step {n}: {json.dumps(step)} -> {json.dumps(result)}", flush=True)
            with open(path[:-5] + ".done.tmp", "w") as f:
                json.dump(result, f)
            os.replace(path[:-5] + ".done.tmp", path[:-5] + ".done")
            n += 1
        if gimp.poll() is None:
            print("gui_driver: GIMP did not quit", flush=True)
            gimp.kill()
    finally:
        rc = gimp.wait()
        xvfb.kill()
        xvfb.wait()
    with open(os.path.join(work, "gimp.log"), errors="replace") as f:
        print(f.read()[-8000:])
    print(f"gui_driver: {n} steps, gimp rc={rc}, failed steps: {failed}")
    return rc  # a failed step is the script's to report (its answer holds the error)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
