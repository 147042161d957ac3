"""Headless Chromium (Debian ``chromium``) driven over the DevTools protocol on a pipe: no extra packages.

``--remote-debugging-pipe`` makes Chromium read JSON commands (NUL-terminated) on fd 3 and answer on fd 4.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time

import pytest


class Browser:
    """One headless Chromium; ``screenshot(url, ready_js)`` loads a page, waits for ``ready_js`` to be
    true, and returns the PNG bytes."""

    def __init__(self, width: int = 480, height: int = 520):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            if os.environ.get("CI"):
                raise AssertionError("chromium missing: setup.sh installs it (system-packages.txt)")
            pytest.skip("chromium not installed: run `bash setup.sh`")
        cmd_r, cmd_w = os.pipe()  # we write commands -> Chromium's fd 3
        out_r, out_w = os.pipe()  # Chromium's fd 4 -> we read answers

        def fds():  # runs in the child before it closes what pass_fds does not keep
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--remote-debugging-pipe", "--use-angle=swiftshader",
             "--enable-unsafe-swiftshader", "--mute-audio", "--hide-scrollbars", "--no-first-run",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self.w, self.r = os.fdopen(cmd_w, "wb"), os.fdopen(out_r, "rb")
        self.size, self.next_id, self.buf = (width, height), 0, b""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.w.write(json.dumps(msg).encode() + b"\0")
        self.w.flush()
        while True:
            while b"\0" not in self.buf:
                chunk = self.r.read1(1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", session=True, expression=expression,
                         returnByValue=True)["result"].get("value")

    def screenshot(self, url: str, ready_js: str, timeout: float = 60.0) -> bytes:
        self.call("Page.navigate", session=True, url=url)
        end = time.monotonic() + timeout
        while not self.evaluate(ready_js):
            if time.monotonic() > end:
                raise AssertionError(f"{url} not ready after {timeout} s: {self.evaluate('document.body.innerText')!r}")
            time.sleep(0.1)
        return base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png")["data"])

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.w.close()
        self.r.close()
