"""Runs INSIDE real Krita (tests/plugins/test_krita_ux.py): the plug-in as an artist meets it.

Env: SR_OUT (output dir), SR_PNG (the bundled coffee composite), SR_MASK (its mask, raw 8-bit, SR_MASK_SIZE
"w,h"), SR_RUNTIME (a running daemon's runtime dir), SR_NO_DAEMON (an empty runtime dir), SR_XKEYS (xkeys.py).

1. The shortcut: what the action says, also after Settings ▸ Configure Krita… ▸ OK, then a real
   Ctrl+Alt+R (XTEST key press) on the image window.
2. The settings dialog, opened from its action and inspected while it runs; a screenshot.
3. The daemon-down message in the real QMessageBox (not test mode), inspected; a screenshot.
4. A real refine of the coffee picture with a soft selection; screenshots of the result, and of the new
   layer alone (the layer under it hidden).
Writes SR_OUT/ux.json and SR_OUT/*.png (Qt's grabWindow); the outer pytest checks them.
"""
import json
import os
import subprocess
import traceback

import kharness
import seam_refine.host as host
import seam_refine.ui as ui
from kharness import wait_until
from krita import Krita, Selection

try:
    from PyQt5.QtCore import QByteArray, QTimer
    from PyQt5.QtWidgets import QAbstractItemView, QApplication, QMessageBox
except ImportError:  # Krita 6
    from PyQt6.QtCore import QByteArray, QTimer
    from PyQt6.QtWidgets import QAbstractItemView, QApplication, QMessageBox

app = Krita.instance()
OUT = os.environ["SR_OUT"]
summary = {"krita": app.version()}


def grab(widget, name):
    """A screenshot of ``widget``'s window as the screen shows it (Qt's grabWindow)."""
    path = os.path.join(OUT, name + ".png")
    QApplication.primaryScreen().grabWindow(int(widget.winId())).save(path, "PNG")
    return path


def stage(name):
    print("ux_checks: stage", name, flush=True)


def select_mask(doc):
    w, h = (int(v) for v in os.environ["SR_MASK_SIZE"].split(","))
    with open(os.environ["SR_MASK"], "rb") as f:
        mask = f.read()
    sel = Selection()
    sel.setPixelData(QByteArray(mask), 0, 0, w, h)
    sel.feather(8)
    doc.setSelection(sel)
    doc.waitForDone()


def finished():
    return "paste_s" in host.LAST_RUN or ui.MESSAGES or host.LAST_RUN.get("cancelled")


def configure_krita_ok():
    """Settings ▸ Configure Krita…, then OK, as an artist does (it reapplies every action's shortcut
    from Krita's action registry)."""
    seen = {}

    def accept():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(200, accept)
            return
        seen["dialog"] = dialog.metaObject().className()
        try:
            for view in dialog.findChildren(QAbstractItemView):  # open the Keyboard Shortcuts page
                model = view.model()
                for row in range(model.rowCount() if model is not None else 0):
                    index = model.index(row, 0)
                    if "Keyboard Shortcuts" in str(index.data()):
                        view.setCurrentIndex(index)
                        seen["page"] = str(index.data())
        except Exception:  # noqa: BLE001 - reported, not raised in a Qt slot
            seen["error"] = traceback.format_exc()
        QTimer.singleShot(800, dialog.accept)

    QTimer.singleShot(500, accept)
    app.action("options_configure").trigger()
    yield from wait_until(lambda: bool(seen), 30)
    yield from wait_until(lambda: QApplication.activeModalWidget() is None, 30)
    yield 300
    return seen


def check_shortcut(doc):
    action = app.action(host.ACTION_ID)
    default = action.property("defaultShortcuts")  # what Krita's registry holds: Keyboard Shortcuts' default
    summary["shortcut"] = {"at_start": action.shortcut().toString(), "default_raw": repr(default),
                           "default": [k.toString() for k in default] if isinstance(default, list) else None}
    summary["shortcut"]["configure_dialog"] = yield from configure_krita_ok()
    summary["shortcut"].update(action=action.shortcut().toString(),
                               all=[s.toString() for s in action.shortcuts()])
    # a real key press (XTEST) on the image window; with nothing selected the plug-in says so
    ui.MESSAGES.clear()
    window = app.activeWindow().qwindow()
    window.activateWindow()
    yield 300
    display = os.environ.get("DISPLAY", ":0").lstrip(":").split(".")[0]
    argv = ["python3", os.environ["SR_XKEYS"], display, "Krita", "ctrl+alt+r", "--timeout", "10"]
    proc = subprocess.run(argv, capture_output=True, text=True)
    summary["shortcut"]["xkeys"] = proc.stdout.strip() + proc.stderr.strip()[-300:]
    yield from wait_until(lambda: bool(ui.MESSAGES), 10)
    summary["shortcut"]["messages"] = list(ui.MESSAGES)


def check_settings_dialog():
    seen = {}

    def inspect():
        dialog = QApplication.activeModalWidget()
        try:
            describe_settings(dialog)
        except Exception:  # noqa: BLE001 - reported, not raised in a Qt slot
            seen["error"] = traceback.format_exc()
        finally:
            dialog.reject()

    def describe_settings(dialog):
        seen["type"] = type(dialog).__name__
        fm = dialog.endpoint.fontMetrics()
        seen.update(
            size=[dialog.width(), dialog.height()],
            endpoint_width=dialog.endpoint.width(),
            placeholder=dialog.endpoint.placeholderText(),
            placeholder_width=fm.boundingRect(dialog.endpoint.placeholderText()).width(),
            tooltips={n: getattr(dialog, n).toolTip() for n in ("strength", "samples", "band", "endpoint",
                                                                 "timeout")},
            texts={n: getattr(dialog, n).text() for n in ("strength", "samples", "band", "timeout")},
            description=dialog.description.text(), description_visible=dialog.description.isVisible(),
            shot=grab(dialog, "krita_settings"))

    QTimer.singleShot(700, inspect)
    app.action(host.SETTINGS_ACTION_ID).trigger()
    yield 200
    summary["settings"] = seen


def check_daemon_down_message(doc):
    """The real QMessageBox an artist gets when the daemon is not running."""
    seen = {}
    os.environ["SEAM_REFINE_RUNTIME_DIR"] = os.environ["SR_NO_DAEMON"]
    os.environ["SEAM_REFINE_TEST_MODE"] = "0"  # show the dialog itself

    waiting = [True]

    def inspect():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if waiting[0]:
                QTimer.singleShot(100, inspect)
            return
        try:
            seen.update(title=box.windowTitle(), text=box.text(), details=box.detailedText(),
                        informative=box.informativeText(), size=[box.width(), box.height()],
                        shot=grab(box, "krita_message"))
        finally:
            box.accept()

    QTimer.singleShot(300, inspect)
    host.LAST_RUN.clear()
    app.action(host.ACTION_ID).trigger()
    yield from wait_until(lambda: bool(seen), 30)
    waiting[0] = False
    os.environ["SEAM_REFINE_TEST_MODE"] = "1"
    os.environ["SEAM_REFINE_RUNTIME_DIR"] = os.environ["SR_RUNTIME"]
    summary["message"] = seen


def refine_and_capture(doc):
    ui.MESSAGES.clear()
    host.LAST_RUN.clear()
    app.action(host.ACTION_ID).trigger()
    assert (yield from wait_until(finished, 120)), "no result within 120 s"
    summary["refine"] = {"messages": list(ui.MESSAGES), "box": host.LAST_RUN.get("box"),
                         "layers": [n.name() for n in doc.topLevelNodes() if n.type() == "paintlayer"]}
    doc.setSelection(Selection())  # no marching ants on the pictures
    doc.refreshProjection()
    yield 800
    window = app.activeWindow().qwindow()
    summary["refine"]["shot"] = grab(window, "krita_result")
    source = doc.nodeByName("Background")
    source.setVisible(False)
    doc.refreshProjection()
    yield 800
    summary["refine"]["patch_shot"] = grab(window, "krita_result_patch")
    source.setVisible(True)


def guarded(name, steps):
    """Run one check; a failure is recorded (SR_OUT/ux.json "failed") and the next check still runs."""
    stage(name)
    try:
        yield from steps
    except Exception:  # noqa: BLE001 - each check reports on its own
        summary.setdefault("failed", {})[name] = traceback.format_exc()
        print(summary["failed"][name], flush=True)
    if kharness._driver._hook_errors:  # an exception in a Qt slot (the plug-in's, or an inspection)
        summary.setdefault("failed", {})[name + " (Qt slot)"] = repr(kharness._driver._hook_errors)
        del kharness._driver._hook_errors[:]
        for widget in QApplication.topLevelWidgets():  # a dialog a failed check left open
            if widget.isModal() and widget.isVisible():
                widget.close()
        yield 300


def main():
    for key, value in host.DEFAULTS.items():  # a clean slate, whatever an earlier run left in the profile
        app.writeSetting(host.SETTINGS_GROUP, key, str(value))
    doc = app.openDocument(os.environ["SR_PNG"])
    app.activeWindow().addView(doc)
    app.setActiveDocument(doc)
    yield 500
    doc.setActiveNode(doc.topLevelNodes()[0])
    yield 200
    yield from guarded("shortcut", check_shortcut(doc))
    yield from guarded("settings", check_settings_dialog())
    select_mask(doc)
    yield 200
    yield from guarded("message", check_daemon_down_message(doc))
    yield from guarded("refine", refine_and_capture(doc))
    doc.setModified(False)
    doc.close()
    with open(os.path.join(OUT, "ux.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("ux_checks: done", flush=True)


kharness.run(main())
