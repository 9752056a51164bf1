"""Fixtures of the plug-in tests: one real GIMP 3 run of every batch case (``gimp_run``), shared by
test_gimp.py (pixels) and test_gimp_runs.py (layers, messages, Filters ▸ Repeat)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .gimp_scripts.host_harness import (
    HOSTS,
    HOSTS_CACHE,
    PLUGIN_TIMEOUT,
    REPO,
    SCRIPT,
    SEL_LARGE,
    ensure_gimp,
    install_plugin_folder,
    load_client,
    make_photo,
    model_for_tests,
    refine_cases,
    start_daemon,
    write_png8,
    write_png16,
)


def _expected(client_mod, runtime: Path, out: Path, results: list[dict]) -> dict:
    """Ask the daemon, from outside GIMP, for its answers to each dumped crop + mask: the refined image
    and the patch (``{name: {"image": …, "patch": …}}``)."""
    answers = {}
    info = json.loads((runtime / "endpoint.json").read_text())
    with client_mod.Client(endpoint=info["endpoint"], token=info["token"], timeout=120) as client:
        for res in results:
            if "files" not in res:
                continue
            case = res["case"]
            w, h = res["new"]["size"]
            crop = (out / res["files"]["crop"]).read_bytes()
            mask = (out / res["files"]["mask"]).read_bytes()
            answers[res["name"]] = {}
            for output in ("image", "patch"):
                pixels, _ = client.refine(crop, w, h, 4, res["dtype"], "RGBA", mask, mask_dtype="uint8",
                                          strength=case.get("strength", 1.0), samples=case.get("samples", 1),
                                          band=case.get("band") or None, output=output)
                answers[res["name"]][output] = np.frombuffer(pixels, res["dtype"]).reshape(h, w, 4)
    return answers


@pytest.fixture(scope="session")
def gimp_run(tmp_path_factory):
    """Run all cases in one real GIMP; yields (results by name, out dir, daemon answers, GIMP output, s)."""
    ensure_gimp()
    root = tmp_path_factory.mktemp("gimp")
    out, runtime, logs = root / "out", root / "runtime", root / "logs"
    for d in (out, runtime, logs):
        d.mkdir()
    photo = make_photo(np.random.default_rng(7), 192, 256)
    write_png8(root / "photo8.png", photo)
    write_png16(root / "photo16.png", photo)
    write_png8(root / "large8.png", make_photo(np.random.default_rng(8), 750, 1000, (SEL_LARGE,)))
    plugin = install_plugin_folder(root / "plug-ins")
    client_mod = load_client(plugin)
    cases = refine_cases(root)
    spec = {"out_dir": str(out), "plugin_dir": str(plugin), "cases": cases}
    (root / "spec.json").write_text(json.dumps(spec))
    daemon = start_daemon(model_for_tests(root), runtime, logs)
    env = dict(os.environ, HOSTS_CACHE=str(HOSTS_CACHE), GIMP_PLUGIN_DIRS=str(plugin), HOSTS_BIND=str(root),
               SEAM_REFINE_RUNTIME_DIR=str(runtime), SEAM_REFINE_PLUGIN_TIMEOUT=str(PLUGIN_TIMEOUT))
    answers: dict = {}
    t0 = time.monotonic()
    gimp_log = root / "gimp.log"
    with open(gimp_log, "w") as sink:
        gimp = subprocess.Popen([str(HOSTS), "gimp-run", str(SCRIPT), str(root / "spec.json")], cwd=REPO,
                                env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        handled = set()
        while gimp.poll() is None:
            for case in cases:
                name = case["name"]
                if name in handled or not (out / f"{name}.stop").exists():
                    continue
                if name == "daemon_paused":
                    daemon.send_signal(signal.SIGSTOP)  # hung: accepts connections, never answers
                elif name == "daemon_killed":
                    daemon.send_signal(signal.SIGCONT)
                    done = json.loads((out / "results.json").read_text())
                    for res in done:
                        res["case"] = next(c for c in cases if c["name"] == res["name"])
                    t_ask = time.monotonic()
                    answers = _expected(client_mod, runtime, out, done)
                    print(f"daemon answers for {len(answers)} crops: {time.monotonic() - t_ask:.2f} s")
                    daemon.send_signal(signal.SIGKILL)  # a crash: endpoint.json stays behind
                    daemon.wait(30)
                    assert (runtime / "endpoint.json").is_file()
                else:
                    (runtime / "endpoint.json").unlink()
                (out / f"{name}.stopped").touch()
                handled.add(name)
            time.sleep(0.05)
    finally:
        if gimp.poll() is None:
            gimp.kill()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGCONT)
            daemon.terminate()
            daemon.wait(30)
    elapsed = time.monotonic() - t0
    log = gimp_log.read_text(errors="replace")
    assert gimp.returncode == 0, f"GIMP run failed (rc {gimp.returncode}):\n{log[-6000:]}"
    results = {r["name"]: r for r in json.loads((out / "results.json").read_text())}
    assert list(results) == [c["name"] for c in cases], log[-3000:]
    for res in results.values():
        res["case"] = next(c for c in cases if c["name"] == res["name"])
    print(f"GIMP run with {len(cases)} cases: {elapsed:.1f} s; plug-in run times: "
          + ", ".join(f"{n} {r['run_s']:.2f} s" for n, r in results.items()))
    yield results, out, answers, log
