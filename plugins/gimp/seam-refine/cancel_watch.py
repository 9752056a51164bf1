"""Stops the daemon's work when GIMP ends the plug-in, as its status-bar Cancel does (standard library).

GIMP's Cancel button in the status bar does not ask a plug-in to stop: GIMP sends it "quit" and kills
it 10 ms later (``gimp_plug_in_close``), so the plug-in cannot cancel its own request, and the daemon
would go on refining for nobody (and keep the next request waiting). So before each request the
plug-in starts this file as a small separate process, in a session of its own so that GIMP's kill
does not reach it, and keeps a pipe to it open. The plug-in writes the request (its id) and, when the
request has ended in any way, "done". If the pipe closes without "done", the plug-in was killed, and
the watcher sends the daemon ``cancel`` for that request, from its own connection.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DONE = b"done\n"
CANCEL_TIMEOUT_S = 10.0


class Watch:
    """The plug-in's end of a watcher; ``done()`` when the request has ended (result, error or cancel)."""

    def __init__(self, proc=None):
        self.proc = proc

    def done(self):
        """Tell the watcher to exit without cancelling, and reap it."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.write(DONE)
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def start(request_id, endpoint=None, token=None, python=None):
    """Start a watcher for ``request_id`` (the daemon found as the plug-in finds it, unless ``endpoint``
    and ``token`` are given); returns a Watch, one that does nothing if no watcher could start."""
    try:
        proc = subprocess.Popen(
            [python or sys.executable, os.path.join(HERE, "cancel_watch.py")],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
        request = {"id": request_id, "endpoint": endpoint, "token": token}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
    except (OSError, ValueError):
        return Watch()
    return Watch(proc)


def watch(stream, cancel):
    """Read the request from ``stream`` (a binary pipe); call ``cancel(request)`` when the pipe ends
    without "done". Returns whether it cancelled."""
    first = stream.readline()
    if not first:
        return False
    request = json.loads(first)
    if stream.readline() == DONE:
        return False
    cancel(request)
    return True


def send_cancel(request):
    """Ask the daemon to cancel ``request["id"]``; quietly gives up when there is no daemon to ask."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import seamrefine_client

    try:
        with seamrefine_client.Client(request.get("endpoint"), request.get("token"), CANCEL_TIMEOUT_S) as c:
            c.cancel_request(request["id"])
    except (seamrefine_client.ClientError, OSError):
        pass


if __name__ == "__main__":
    watch(sys.stdin.buffer, send_cancel)
