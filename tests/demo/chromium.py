"""Headless Chromium driven over the DevTools protocol on a pipe (no websocket library needed).

`inspect_page(path)` loads a local HTML file, and returns what the page logged (console
messages, uncaught exceptions, failed loads), the result of a JavaScript expression evaluated
after load, and a full-page PNG screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
    "--remote-debugging-pipe", "--window-size=1280,1000", "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    console: list[dict[str, Any]] = field(default_factory=list)  # {"level", "text"}
    value: Any = None
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        return [m["text"] for m in self.console if m["level"] in ("error", "assert", "exception")]


class _Pipe:
    """CDP messages are JSON texts separated by NUL bytes on fds 3 (to Chromium) and 4 (from it)."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self.out = os.fdopen(to_browser, "wb", buffering=0)
        self.inp = os.fdopen(from_browser, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise TimeoutError(method)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            chunk = self.inp.read(65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        text, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(text)


def inspect_page(path: Path, expression: str, settle: float = 0.5) -> PageReport:
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def wire_fds() -> None:
        # Copies first, so neither source fd is clobbered when it already is 3 or 4.
        reader, writer = os.dup(to_browser_r), os.dup(from_browser_w)
        os.dup2(reader, 3)
        os.dup2(writer, 4)

    with tempfile.TemporaryDirectory(prefix="bw-chromium-") as profile:
        process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire_fds, pass_fds=(3, 4),  # kept open after wire_fds
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(to_browser_w, from_browser_r)
        try:
            return _drive(pipe, path, expression, settle)
        finally:
            with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                pipe.send("Browser.close", timeout=5)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _drive(pipe: _Pipe, path: Path, expression: str, settle: float) -> PageReport:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    pipe.wait_event("Page.loadEventFired")
    time.sleep(settle)
    value = pipe.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      session=session)["result"].get("value")
    metrics = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
    shot = pipe.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1},
    }, session=session)["data"]
    return PageReport(console=_console(pipe.events), value=value, screenshot=base64.b64decode(shot))


def _console(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            out.append({"level": params.get("type", "log"), "text": text})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append({"level": "exception",
                        "text": details.get("exception", {}).get("description") or details.get("text", "")})
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            out.append({"level": entry.get("level", "info"), "text": f"{entry.get('text', '')} {entry.get('url', '')}"})
    return out
