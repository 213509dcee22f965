"""Headless Chromium for tests, driven over the DevTools protocol (CDP) with websocket-client.

A Snakemake report is a single-page app: its results are data URIs inside a script and
an image exists in the page only after the app shows it. So the tests do what a person
does (open the file, show each figure) and ask the browser what it rendered: whether each
image decoded (``naturalWidth``), what the console said, and what the screen looks like.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "find_chromium", "Browser", "open_browser"]

#: the flags every run uses (no sandbox: tests run as root in containers; no GPU, no network chatter)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking")

_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One page of a headless Chromium, with the console messages and errors it reported."""

    def __init__(self, page_ws: str, *, timeout: float) -> None:
        import websocket

        self._ws = websocket.create_connection(page_ws, timeout=timeout, suppress_origin=True)
        self._timeout = timeout
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def close(self) -> None:
        self._ws.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events that arrive meanwhile are kept)."""
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(f"{method}: no answer in {self._timeout} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 20.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            time.sleep(0.1)

    def frame_texts(self) -> list[str]:
        """The visible text of every child frame (an iframe showing an HTML result)."""
        tree = self.call("Page.getFrameTree")["frameTree"]
        texts = []
        for child in tree.get("childFrames", []):
            world = self.call("Page.createIsolatedWorld", frameId=child["frame"]["id"], worldName="bams3-test")
            value = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                              contextId=world["executionContextId"], returnByValue=True)
            texts.append(value["result"].get("value") or "")
        return texts

    def wait_for_frame_text(self, text: str, *, timeout: float = 20.0) -> str:
        """Wait until a child frame shows ``text``; return that frame's text."""
        deadline = time.monotonic() + timeout
        while True:
            for frame_text in self.frame_texts():
                if text in frame_text:
                    return frame_text
            if time.monotonic() > deadline:
                raise TimeoutError(f"no frame shows {text!r} after {timeout} s")
            time.sleep(0.1)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + self._timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: no load event in {self._timeout} s")
            self.evaluate("1")  # reading answers collects the events that came first

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self) -> list[str]:
        """Errors the page reported: uncaught exceptions, console.error/assert, error log entries."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                        for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(f"log: {params['entry'].get('text')} ({params['entry'].get('url', '')})")
        return out


@contextmanager
def open_browser(executable: str, workdir: Path, *, width: int = 1400, height: int = 900,
                 timeout: float = 30.0) -> Iterator[Browser]:
    """Start headless Chromium on a free DevTools port and connect to its first page."""
    log_path = workdir / "chromium.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, "--remote-debugging-port=0", f"--user-data-dir={workdir / 'profile'}",
             f"--window-size={width},{height}", "--hide-scrollbars", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    browser = None
    try:
        deadline = time.monotonic() + timeout
        match = None
        while match is None:
            match = _LISTENING.search(log_path.read_text(errors="replace"))
            if match is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Chromium did not start: {log_path.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        port = re.search(r":(\d+)/", match.group(1)).group(1)  # type: ignore[union-attr]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        browser = Browser(pages[0]["webSocketDebuggerUrl"], timeout=timeout)
        yield browser
    finally:
        if browser is not None:
            browser.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
