"""The batch scripts' side of gui_driver.py (runs INSIDE GIMP): ask the driver for GUI actions."""

import json
import os
import time


class Steps:
    """Numbered step files in ``out_dir``; ``ask`` writes one, and waits for its answer unless told not to."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.n = 0

    def ask(self, wait=True, timeout=90.0, **step):
        """Request ``step`` (see gui_driver.py); returns the driver's answer, or None when not waiting."""
        path = os.path.join(self.out_dir, f"step-{self.n:02d}")
        self.n += 1
        with open(path + ".tmp", "w") as f:
            json.dump(step, f)
        os.replace(path + ".tmp", path + ".json")
        if not wait:
            return None
        return self.answer(path, timeout)

    @staticmethod
    def answer(path, timeout=90.0):
        """The driver's answer to step ``path`` (without extension), or an error after ``timeout``."""
        end = time.monotonic() + timeout
        while not os.path.exists(path + ".done"):
            if time.monotonic() > end:
                return {"error": "the GUI driver did not answer"}
            time.sleep(0.05)
        with open(path + ".done") as f:
            return json.load(f)

    def last(self, timeout=90.0):
        """The answer to the last step asked without waiting."""
        return self.answer(os.path.join(self.out_dir, f"step-{self.n - 1:02d}"), timeout)


def wait_for(path, timeout=60.0):
    """Wait until ``path`` exists (a handshake file from the test); True if it does."""
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True
