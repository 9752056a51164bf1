"""The GIMP plug-in's interactive path in the real GIMP 3 GUI (Xvfb inside the hosts chroot).

tests/plugins/gimp_scripts/gui_dialog.sh starts GIMP with its GUI and runs dialog_case.py. That script calls
the plug-in in INTERACTIVE mode twice. gui_dialog.sh answers the GimpUi.ProcedureDialog with real key
presses (xkeys.py over XTEST): Return (OK), then Escape (Cancel). It then presses Ctrl+Z and Ctrl+Y in
the image window. GIMP 3 has no PDB procedure for undo, so a batch script cannot undo; the GUI can.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from .gimp_scripts.host_harness import (
    HOSTS,
    HOSTS_CACHE,
    REPO,
    SEL_U16,
    ensure_gimp,
    install_plugin_folder,
    make_photo,
    model_for_tests,
    start_daemon,
    write_png8,
)

pytestmark = [pytest.mark.hosts, pytest.mark.slow]


@pytest.fixture(scope="module")
def dialog_run(tmp_path_factory):
    ensure_gimp()
    root = tmp_path_factory.mktemp("gimp_dialog")
    out, runtime, logs = root / "out", root / "runtime", root / "logs"
    for d in (out, runtime, logs):
        d.mkdir()
    write_png8(root / "photo8.png", make_photo(np.random.default_rng(7), 192, 256))
    plugin = install_plugin_folder(root / "plug-ins")
    spec = {"out_dir": str(out), "png": str(root / "photo8.png"), "select": SEL_U16}
    (root / "spec.json").write_text(json.dumps(spec))
    daemon = start_daemon(model_for_tests(root), runtime, logs)
    env = dict(os.environ, HOSTS_CACHE=str(HOSTS_CACHE), HOSTS_BIND=str(root),
               SEAM_REFINE_RUNTIME_DIR=str(runtime))
    argv = [str(HOSTS), "shell", "bash", "tests/plugins/gimp_scripts/gui_dialog.sh", str(root), str(plugin),
            str(root / "spec.json")]
    try:
        run = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    finally:
        daemon.terminate()
        daemon.wait(30)
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"GIMP GUI run failed (rc {run.returncode}):\n{log[-6000:]}"
    return json.loads((out / "dialog.json").read_text()), log


def test_ok_in_the_dialog_refines(dialog_run):
    res = dialog_run[0]["ok"]
    assert res["status"] == "success", res["message"]
    assert res["layers"] == ["Seam Refine", "Background"]


def test_cancel_in_the_dialog_changes_nothing(dialog_run):
    res = dialog_run[0]["cancel"]
    assert res["status"] == "cancel"
    assert res["layers"] == ["Seam Refine", "Background"]  # only the layer of the first run


def test_one_undo_removes_exactly_the_new_layer(dialog_run):
    assert dialog_run[0]["after_undo"] == ["Background"]


def test_redo_brings_the_layer_back(dialog_run):
    assert dialog_run[0]["after_redo"] == ["Seam Refine", "Background"]


def test_dialog_has_no_gtk_complaints(dialog_run):
    log = dialog_run[1]
    assert "duplicate mnemonic" not in log
    assert "left image undo in inconsistent state" not in log
