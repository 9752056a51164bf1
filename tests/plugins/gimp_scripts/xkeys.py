"""Press keys in a window of an X server, by title, with nothing but the standard library.

    python3 xkeys.py DISPLAY_NUMBER "WINDOW TITLE" KEY [KEY ...] [--timeout S] [--snapshot SRC DST]

Speaks the X11 core protocol over the server's Unix socket and XTEST ``FakeInput`` (Xvfb has XTEST),
because the GIMP chroot has no xdotool. Waits until a mapped top-level window whose WM_NAME contains
the title exists, focuses it, then presses each key: Return, Escape, Tab, space, a letter, or a
combination such as ctrl+z.
``--snapshot SRC DST`` first copies SRC (an ``Xvfb -fbdir`` screen file) to DST, to see the window.
Exit status 0 when the keys were sent, 2 when no such window appeared in time. ``X11`` is also the
library of gui_driver.py (window geometry, titles, pointer clicks).
"""

import socket
import struct
import sys
import time

KEYSYMS = {"Return": 0xFF0D, "Escape": 0xFF1B, "Tab": 0xFF09, "space": 0x0020,
           "ctrl": 0xFFE3, "shift": 0xFFE1, "alt": 0xFFE9}


def _pad(n):
    return (4 - n % 4) % 4


class X11:
    """A minimal little-endian X11 client: just what finding a window and pressing keys needs."""

    def __init__(self, display):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(f"/tmp/.X11-unix/X{display}")
        self.sock.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, 0, 0))
        head = self._recv(8)
        if head[0] != 1:
            raise RuntimeError("X connection refused: " + self._recv(head[1] + _pad(head[1])).decode())
        body = self._recv(struct.unpack_from("<H", head, 6)[0] * 4)
        vendor_len, nformats = struct.unpack_from("<H", body, 16)[0], body[21]
        self.min_keycode, self.max_keycode = body[26], body[27]
        screen = 32 + vendor_len + _pad(vendor_len) + 8 * nformats
        self.root = struct.unpack_from("<I", body, screen)[0]
        self.xtest = self._extension(b"XTEST")

    def _recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("X server closed the connection")
            data += chunk
        return data

    def _request(self, data, reply=True):
        self.sock.sendall(data)
        if not reply:
            return None
        while True:
            head = self._recv(32)
            if head[0] == 0:
                raise RuntimeError(f"X error {head[1]} for request {data[0]}")
            if head[0] == 1:
                return head + self._recv(struct.unpack_from("<I", head, 4)[0] * 4)
            # an event: ignore

    def _extension(self, name):
        req = struct.pack("<BxHHxx", 98, 2 + (len(name) + _pad(len(name))) // 4, len(name))
        rep = self._request(req + name + b"\0" * _pad(len(name)))
        if not rep[8]:
            raise RuntimeError(f"the X server has no {name.decode()} extension")
        return rep[9]

    def _atom(self, name):
        req = struct.pack("<BBHHxx", 16, 0, 2 + (len(name) + _pad(len(name))) // 4, len(name))
        return struct.unpack_from("<I", self._request(req + name + b"\0" * _pad(len(name))), 8)[0]

    def children(self, window):
        rep = self._request(struct.pack("<BxHI", 15, 2, window))
        n = struct.unpack_from("<H", rep, 16)[0]
        return list(struct.unpack_from(f"<{n}I", rep, 32))

    def name(self, window):
        for atom in (self._atom(b"_NET_WM_NAME"), 39):  # 39 = WM_NAME
            rep = self._request(struct.pack("<BBHIIIII", 20, 0, 6, window, atom, 0, 0, 1024))
            length = struct.unpack_from("<I", rep, 16)[0] * (rep[1] // 8 if rep[1] else 0)
            if length:
                return rep[32:32 + length].decode("utf-8", "replace")
        return ""

    def mapped(self, window):
        return self._request(struct.pack("<BxHI", 3, 2, window))[26] == 2

    def titles(self):
        return [self.name(w) for w in self.children(self.root) if self.mapped(w)]

    def find(self, title):
        for window in self.children(self.root):
            if self.mapped(window) and title in self.name(window):
                return window
        return None

    def keycode(self, keysym):
        count = self.max_keycode - self.min_keycode + 1
        rep = self._request(struct.pack("<BxHBBxx", 101, 2, self.min_keycode, count))
        per = rep[1]
        syms = struct.unpack_from(f"<{per * count}I", rep, 32)
        for i in range(count):
            if keysym in syms[i * per:(i + 1) * per]:
                return self.min_keycode + i
        raise RuntimeError(f"no keycode for keysym {keysym:#x}")

    def focus(self, window):
        self._request(struct.pack("<BBHII", 42, 1, 3, window, 0), reply=False)

    def _fake(self, kind, code, x=0, y=0):
        self._request(struct.pack("<BBHBBxxIIxxxxxxxxhhxxxxxxxx", self.xtest, 2, 9, kind, code, 0,
                                  self.root, x, y), reply=False)

    def geometry(self, window):
        """(x, y, width, height) of ``window`` on the screen (a top-level window without a window
        manager sits directly on the root)."""
        rep = self._request(struct.pack("<BxHI", 14, 2, window))  # GetGeometry
        x, y, w, h = struct.unpack_from("<hhHH", rep, 12)
        return x, y, w, h

    def click(self, x, y, button=1):
        """Move the pointer to (x, y) on the screen and click ``button`` there."""
        self._fake(6, 0, x, y)  # MotionNotify, absolute
        self._request(struct.pack("<BxH", 43, 1))
        self._fake(4, button)  # ButtonPress
        self._fake(5, button)  # ButtonRelease
        self._request(struct.pack("<BxH", 43, 1))

    def press(self, combo):
        """Press and release ``combo`` ("Return", "z", "ctrl+z"): modifiers down, key, modifiers up."""
        codes = [self.keycode(KEYSYMS.get(name) or ord(name)) for name in combo.split("+")]
        for code in codes:
            self._fake(2, code)  # KeyPress
        for code in reversed(codes):
            self._fake(3, code)  # KeyRelease
        self._request(struct.pack("<BxH", 43, 1))  # GetInputFocus: a round trip to flush


def main(argv):
    timeout = 60.0
    if "--timeout" in argv:
        i = argv.index("--timeout")
        timeout = float(argv[i + 1])
        del argv[i:i + 2]
    snapshot = None
    if "--snapshot" in argv:
        i = argv.index("--snapshot")
        snapshot = argv[i + 1:i + 3]
        del argv[i:i + 3]
    display, title, keys = argv[0], argv[1], argv[2:]
    end = time.monotonic() + timeout
    while True:
        try:
            x = X11(display)
            window = x.find(title)
        except (OSError, RuntimeError):
            window = None
        if window is not None:
            break
        if time.monotonic() > end:
            try:
                seen = X11(display).titles()
            except (OSError, RuntimeError) as exc:
                seen = [repr(exc)]
            print(f"xkeys: no window titled {title!r} within {timeout:.0f} s; mapped: {seen}", flush=True)
            return 2
        time.sleep(0.2)
    time.sleep(0.5)  # let GTK finish mapping and realizing the dialog
    title = x.name(window)
    if snapshot:
        with open(snapshot[0], "rb") as src, open(snapshot[1], "wb") as dst:
            dst.write(src.read())
    x.focus(window)
    time.sleep(0.2)
    for key in keys:
        x.press(key)
        time.sleep(0.1)
    print(f"xkeys: pressed {' '.join(keys)} in window {window:#x} ({title!r})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
