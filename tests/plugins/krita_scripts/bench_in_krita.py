"""Runs INSIDE real Krita: times the Seam Refine plugin path at 1 and 4 MP (crop = whole document).

Env: SR_OUT (bench.json goes there), SR_REPEATS (default 5), SEAM_REFINE_RUNTIME_DIR (live daemon).
Per run: gather (layer + selection pixelData), request (client.refine round trip), the daemon's own
elapsed_ms (inference etc.), paste (createNode + setPixelData + addChildNode) and trigger→layer wall time.
"""
import json
import os
import statistics
import time

import kharness
import seam_refine.host as host
import seam_refine.ui as ui
from kharness import wait_until
from krita import Krita, Selection

app = Krita.instance()
REPEATS = int(os.environ.get("SR_REPEATS", "5"))


def main():
    for key, value in host.DEFAULTS.items():  # a clean slate, whatever an earlier run left in the profile
        app.writeSetting(host.SETTINGS_GROUP, key, str(value))
    results = {"krita": app.version()}
    for side in (1000, 2000):
        doc = app.createDocument(side, side, f"bench{side}", "RGBA", "U8", "", 72.0)
        app.activeWindow().addView(doc)
        app.setActiveDocument(doc)
        yield 300
        base = doc.topLevelNodes()[0]
        data = bytes((i * 7) & 0xFF for i in range(side * 4)) * side  # a cheap deterministic texture
        base.setPixelData(data, 0, 0, side, side)
        doc.setActiveNode(base)
        sel = Selection()
        sel.select(side // 8, side // 8, side * 3 // 4, side * 3 // 4, 255)
        sel.feather(8)
        doc.setSelection(sel)
        doc.waitForDone()
        yield 300
        rows = []
        for _ in range(REPEATS + 1):  # the first run warms up
            ui.MESSAGES.clear()
            host.LAST_RUN.clear()
            t0 = time.perf_counter()
            app.action(host.ACTION_ID).trigger()
            ok = yield from wait_until(lambda: "paste_s" in host.LAST_RUN or ui.MESSAGES, 300, step_ms=1)
            wall = time.perf_counter() - t0
            assert ok and not ui.MESSAGES, ui.MESSAGES
            run = dict(host.LAST_RUN)
            assert run["box"] == (0, 0, side, side), run["box"]
            rows.append({"gather_s": run["gather_s"], "request_s": run["request_s"],
                         "daemon_s": run["daemon_ms"] / 1000.0, "paste_s": run["paste_s"], "wall_s": wall})
            doc.nodeByName(host.LAYER_NAME).remove()
            yield 200
        rows = rows[1:]
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        med["transport_s"] = statistics.median(r["request_s"] - r["daemon_s"] for r in rows)
        med["overhead_s"] = statistics.median(r["wall_s"] - r["daemon_s"] for r in rows)
        results[f"{side * side / 1e6:.0f}MP"] = {"median": med, "runs": rows}
        doc.setModified(False)
        doc.close()
        yield 200
    with open(os.path.join(os.environ["SR_OUT"], "bench.json"), "w") as f:
        json.dump(results, f, indent=1)


kharness.run(main())
