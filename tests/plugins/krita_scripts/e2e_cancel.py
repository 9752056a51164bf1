"""Runs INSIDE real Krita against a scripted ROUTER (tests/plugins/test_krita_cancel.py): cancel, busy,
timeout.

1st request: the server sends progress 1/4 and holds; the script presses Cancel on the progress dialog
while measuring how long the GUI event loop stalls (the request runs on a worker thread).
2nd: the server answers "busy". 3rd: the server never answers; the timeout setting is 1.5 s.
4th: after the settings dialog, the server answers an error whose message must be shown as it is.
Writes SR_OUT/cancel.json.
"""
import json
import os
import time

import kharness
import seam_refine.host as host
import seam_refine.ui as ui
from kharness import wait_until
from krita import Krita, Selection

try:
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication, QProgressDialog, QPushButton
except ImportError:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication, QProgressDialog, QPushButton

app = Krita.instance()
summary = {}


def visible_progress_dialog():
    for w in QApplication.topLevelWidgets():
        if isinstance(w, QProgressDialog) and w.isVisible():
            return w
    return None


def start():
    ui.MESSAGES.clear()
    host.LAST_RUN.clear()
    app.action(host.ACTION_ID).trigger()


def finished():
    return "paste_s" in host.LAST_RUN or ui.MESSAGES or host.LAST_RUN.get("cancelled")


def main():
    doc = app.openDocument(os.environ["SR_PNG"])
    app.activeWindow().addView(doc)
    app.setActiveDocument(doc)
    yield 300
    doc.setActiveNode(doc.topLevelNodes()[0])
    sel = Selection()
    sel.select(40, 30, 60, 50, 255)
    doc.setSelection(sel)
    doc.waitForDone()
    yield 200
    n_layers = len(doc.topLevelNodes())

    # 1) cancel from the progress dialog; the GUI keeps running meanwhile
    start()
    gaps, last, dialog = [], time.perf_counter(), None
    end = time.monotonic() + 20
    while dialog is None and time.monotonic() < end:
        yield 10
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        d = visible_progress_dialog()
        if d is not None and d.maximum() == 4:
            dialog = d
    assert dialog is not None, "no progress dialog with the daemon's progress"
    summary["dialog"] = {"label": dialog.labelText(), "value": dialog.value(), "maximum": dialog.maximum(),
                         "modal": bool(dialog.isModal() or dialog.windowModality() != 0)}
    summary["max_gui_gap_s"] = max(gaps)
    buttons = [b for b in dialog.findChildren(QPushButton) if b.isVisible()]
    assert len(buttons) == 1 and buttons[0].text() == "Cancel"
    buttons[0].click()
    assert (yield from wait_until(finished, 20))
    summary["cancel"] = {"cancelled": bool(host.LAST_RUN.get("cancelled")), "messages": list(ui.MESSAGES),
                         "dialog_hidden": visible_progress_dialog() is None}

    # 2) busy
    start()
    assert (yield from wait_until(finished, 20))
    summary["busy"] = list(ui.MESSAGES)

    # 3) timeout
    app.writeSetting(host.SETTINGS_GROUP, "timeout", "1.5")
    t0 = time.perf_counter()
    start()
    assert (yield from wait_until(finished, 30))
    summary["timeout"] = {"messages": list(ui.MESSAGES), "after_s": time.perf_counter() - t0}
    app.writeSetting(host.SETTINGS_GROUP, "timeout", str(host.DEFAULTS["timeout"]))

    # 4) the settings dialog (filled in and accepted from a timer while it runs modally), then a
    # request carrying those settings; the server answers with an error to be shown as it is
    def fill_settings():
        dialog = QApplication.activeModalWidget()
        summary["settings_dialog"] = type(dialog).__name__
        dialog.strength.setValue(0.5)
        dialog.samples.setValue(3)
        dialog.band.setValue(24)
        dialog.accept()

    QTimer.singleShot(300, fill_settings)
    app.action(host.SETTINGS_ACTION_ID).trigger()
    yield 100
    summary["settings"] = {k: app.readSetting(host.SETTINGS_GROUP, k, "") for k in host.DEFAULTS}
    start()
    assert (yield from wait_until(finished, 20))
    summary["daemon_error"] = list(ui.MESSAGES)
    for key, value in host.DEFAULTS.items():
        app.writeSetting(host.SETTINGS_GROUP, key, str(value))
    summary["layers_added"] = len(doc.topLevelNodes()) - n_layers
    yield 500  # let the quiet cancel after the timeout reach the server
    doc.setModified(False)
    doc.close()
    with open(os.path.join(os.environ["SR_OUT"], "cancel.json"), "w") as f:
        json.dump(summary, f, indent=1)


kharness.run(main())
