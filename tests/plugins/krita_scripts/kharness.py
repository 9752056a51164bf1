"""Run a Krita test script as a generator on Krita's *top-level* event loop.

The hosts driver runs scripts inside a timer callback, and waiting there (wait_events) nests event
loops. Krita postpones its "synchronized connection" events while loops are nested, so node
dummies/shapes of documents opened during the script never appear and layers cannot be activated.
``run(gen)`` therefore lets the driver's script return, keeps Krita alive, and drives ``gen`` from
QTimer callbacks: ``yield ms`` waits ``ms`` milliseconds on the top-level loop. When ``gen`` ends (or
raises), Krita quits through the driver with status 0 (or 1).
"""
import sys
import traceback

try:
    from PyQt5.QtCore import QTimer
except ImportError:  # Krita 6
    from PyQt6.QtCore import QTimer

_driver = sys.modules["hosts_test_driver"]
_real_finish = _driver._finish
_state = {"running": False}


def _finish_hook(rc):
    if rc == 0 and _state["running"]:
        return  # the driver's own "script returned" call: keep Krita running
    _real_finish(rc)


def _step(gen):
    try:
        delay = next(gen)
    except StopIteration:
        _state["running"] = False
        rc = 1 if _driver._hook_errors else 0
        try:
            if rc:
                print("kharness: uncaught exception(s) in Qt slots:", ascii(_driver._hook_errors), flush=True)
            print(f"kharness: script finished rc={rc}", flush=True)
        finally:
            _real_finish(rc)
        return
    except BaseException:
        traceback.print_exc()
        _state["running"] = False
        print("kharness: script failed", flush=True)
        _real_finish(1)
        return
    QTimer.singleShot(int(delay or 0), lambda: _step(gen))


def run(gen):
    _state["running"] = True
    _driver._finish = _finish_hook
    QTimer.singleShot(0, lambda: _step(gen))


def wait_until(pred, seconds=60.0, step_ms=50):
    """Generator helper: ``ok = yield from wait_until(lambda: ...)``."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        yield step_ms
    return pred()
