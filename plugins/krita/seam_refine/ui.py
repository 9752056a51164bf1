"""Dialogs, messages and the background request of the Krita plugin (Qt only, no ``krita`` import)."""

import os
import threading
import time

from . import shared
from .qt import Qt, QTimer, QtWidgets, enum, exec_dialog

policy = shared.load("seamrefine_policy")

TITLE = "Seam Refine"
# With SEAM_REFINE_TEST_MODE=1 messages are recorded here (and printed) instead of shown in a dialog.
MESSAGES = []


def test_mode():
    """True when messages are recorded instead of shown (SEAM_REFINE_TEST_MODE=1; tests)."""
    return os.environ.get("SEAM_REFINE_TEST_MODE") == "1"


def message_box(text, level="warning", parent=None, details=""):
    """The QMessageBox for a message: ``text`` in words for the artist, ``details`` behind its
    "Show Details…" button."""
    box = QtWidgets.QMessageBox
    icon = {"info": "Information", "warning": "Warning", "error": "Critical"}[level]
    dialog = box(enum(box, "Icon", icon), TITLE, text, enum(box, "StandardButton", "Ok"), parent)
    if details:
        dialog.setDetailedText(details)
    return dialog


def show_message(text, level="warning", parent=None, details=""):
    """Tell the artist something (one place, so tests can record messages instead of showing dialogs)."""
    if test_mode():
        MESSAGES.append((level, text, details))
        line = f"seam_refine [{level}]: {text}" + (f" [details: {details}]" if details else "")
        print(line.encode("ascii", "backslashreplace").decode(), flush=True)
        return
    exec_dialog(message_box(text, level, parent, details))


class Request:
    """Runs ``job(progress, cancel)`` on a worker thread and polls it from the GUI thread.

    ``done(result, error)`` is called on the GUI thread (``result`` None when ``error`` is set).
    A window-modal QProgressDialog shows progress; its Cancel button sets ``cancel``.
    """

    POLL_MS = 15

    def __init__(self, job, done, parent=None, label="Refining the seam…"):
        self.job, self.done = job, done
        self.cancel = threading.Event()
        self.progress = (0, 0)
        self.outcome = None
        self.dialog = QtWidgets.QProgressDialog(label, "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle(TITLE)
        self.dialog.setWindowModality(enum(Qt, "WindowModality", "WindowModal"))
        self.dialog.setMinimumDuration(400)
        self.dialog.canceled.connect(self.cancel.set)
        self.timer = QTimer()
        self.timer.timeout.connect(self._poll)
        self.started = time.perf_counter()

    def start(self):
        threading.Thread(target=self._run, name="seam-refine-request", daemon=True).start()
        self.timer.start(self.POLL_MS)

    def _run(self):
        try:
            self.outcome = (self.job(self._on_progress, self.cancel), None)
        except BaseException as e:  # handed to the GUI thread, shown as a message there
            self.outcome = (None, e)

    def _on_progress(self, done, total):
        self.progress = (done, total)

    def _poll(self):
        if self.dialog.wasCanceled():
            self.cancel.set()
        done, total = self.progress
        if total > 0:
            self.dialog.setMaximum(total)
            self.dialog.setValue(min(done, total))
        if self.outcome is None:
            return
        self.timer.stop()
        self.dialog.reset()
        self.dialog.hide()
        result, error = self.outcome
        self.done(result, error)


class SecondsBox(QtWidgets.QDoubleSpinBox):
    """A duration in seconds, shown as an artist writes it: "600 s", "1.5 s" (not "600.00")."""

    def textFromValue(self, value):
        """The value as text: 600 → "600", 1.5 → "1.5" (the suffix " s" is added by Qt)."""
        return f"{value:g}"


class SettingsDialog(QtWidgets.QDialog):
    """Strength, samples, band, service address and timeout, each explained (policy.FIELDS)."""

    MIN_WIDTH = 460

    def __init__(self, values, parent=None):
        super().__init__(parent)
        self.setWindowTitle(TITLE + " Settings")
        self.setMinimumWidth(self.MIN_WIDTH)
        form = QtWidgets.QFormLayout(self)
        self.description = QtWidgets.QLabel(policy.DESCRIPTION)
        self.description.setWordWrap(True)
        form.addRow(self.description)
        self.strength = QtWidgets.QDoubleSpinBox()
        self.strength.setRange(0.0, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(float(values["strength"]))
        self.samples = QtWidgets.QSpinBox()
        self.samples.setRange(1, 8)
        self.samples.setValue(int(values["samples"]))
        self.band = QtWidgets.QSpinBox()
        self.band.setRange(0, 512)
        self.band.setSuffix(" px")
        self.band.setSpecialValueText(policy.BAND_AUTOMATIC)
        self.band.setValue(int(values["band"]))
        self.endpoint = QtWidgets.QLineEdit(str(values["endpoint"]))
        self.endpoint.setPlaceholderText(policy.ENDPOINT_PLACEHOLDER)
        self.endpoint.setClearButtonEnabled(True)
        self.endpoint.setMinimumWidth(self.fontMetrics().boundingRect("tcp://127.0.0.1:55555").width() + 40)
        self.timeout = SecondsBox()
        self.timeout.setDecimals(1)
        self.timeout.setRange(1.0, 3600.0)
        self.timeout.setSingleStep(30.0)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(float(values["timeout"]))
        for name in ("strength", "samples", "band", "endpoint", "timeout"):
            widget = getattr(self, name)
            widget.setToolTip(policy.tooltip(name))
            form.addRow(policy.label(name, "&"), widget)
            form.labelForField(widget).setToolTip(policy.tooltip(name))
        bb = QtWidgets.QDialogButtonBox
        buttons = bb(enum(bb, "StandardButton", "Ok") | enum(bb, "StandardButton", "Cancel"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self):
        """The settings as entered: strength, samples, band, endpoint, timeout."""
        return {"strength": self.strength.value(), "samples": self.samples.value(), "band": self.band.value(),
                "endpoint": self.endpoint.text().strip(), "timeout": self.timeout.value()}
