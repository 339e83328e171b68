"""Headless Chromium over the DevTools protocol: open pages, measure them, log every request.

:class:`Browser` starts one Chromium (``--headless --no-sandbox --disable-gpu``, a fresh
``--user-data-dir``, ``--remote-debugging-port=0``; the port is read from ``DevToolsActivePort``)
with the network off (every host name but ``127.0.0.1``/``localhost`` fails to resolve), and
:meth:`Browser.open` loads a URL in a fresh tab at a given window size, following a
``<meta http-equiv="refresh">`` redirect. A :class:`Tab` evaluates JavaScript, takes
screenshots and reports console errors, uncaught exceptions, failed loads and every request
that would leave the machine.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["find_chromium", "Browser", "Tab", "is_local_url"]

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def find_chromium() -> str | None:
    """The Chromium binary: ``$STOFFWECHSEL_CHROMIUM``/``$CHROME_BIN``, else the first on PATH."""
    for var in ("STOFFWECHSEL_CHROMIUM", "CHROME_BIN"):
        value = os.environ.get(var)
        if value and (Path(value).is_file() or shutil.which(value)):
            return shutil.which(value) or value
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def is_local_url(url: str) -> bool:
    """True for URLs that stay on this machine: ``file:``, ``data:``, ``about:``, ``blob:``,
    and http(s) to 127.0.0.1 / localhost."""
    if url.startswith(("file:", "data:", "about:", "blob:", "chrome-error:")):
        return True
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https", "ws") and (parsed.hostname or "") in _LOCAL_HOSTS


class _DevTools:
    """A minimal Chrome DevTools protocol client over the browser's websocket."""

    def __init__(self, url: str, timeout: float) -> None:
        import websocket  # websocket-client

        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.timeout = timeout
        self.next_id = 0
        self.events: list[dict] = []

    def _receive(self, deadline: float) -> dict:
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        return json.loads(self.ws.recv())

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message: dict = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"DevTools: no answer to {method}")
            data = self._receive(deadline)
            if data.get("id") == self.next_id:
                if "error" in data:
                    raise RuntimeError(f"DevTools {method}: {data['error']}")
                return data.get("result", {})
            if "method" in data:
                self.events.append(data)

    def wait_for(self, method: str, session: str | None = None, timeout: float | None = None, after: int = 0) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = after
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and (session is None or event.get("sessionId") == session):
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise TimeoutError(f"DevTools: no {method} event")
            try:
                data = self._receive(deadline)
            except Exception as exc:  # noqa: BLE001 - websocket timeout
                if time.monotonic() > deadline:
                    raise TimeoutError(f"DevTools: no {method} event") from exc
                continue
            if "method" in data:
                self.events.append(data)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self._receive(deadline)
            except Exception:  # noqa: BLE001 - websocket timeout: nothing more came
                return
            if "method" in data:
                self.events.append(data)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a dead socket is fine
            pass


class Tab:
    """One page opened by :meth:`Browser.open`."""

    def __init__(self, client: _DevTools, session: str, target: str, first_event: int) -> None:
        self.client, self.session, self.target, self.first_event = client, session, target, first_event

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.client.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            session=self.session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        params: dict = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.client.send("Page.captureScreenshot", params, session=self.session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def _events(self) -> list[dict]:
        return [e for e in self.client.events[self.first_event :] if e.get("sessionId") == self.session]

    def console_errors(self) -> list[str]:
        """Console errors and assertions, uncaught exceptions, error log entries, failed loads."""
        errors: list[str] = []
        for event in self._events():
            method, params = event.get("method"), event.get("params") or {}
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args") or []
                errors.append(
                    "console."
                    + params["type"]
                    + ": "
                    + " ".join(str(a.get("value", a.get("description", ""))) for a in args)
                )
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails") or {}
                errors.append(
                    "exception: " + str((details.get("exception") or {}).get("description") or details.get("text"))
                )
            elif method == "Log.entryAdded":
                entry = params.get("entry") or {}
                if entry.get("level") == "error" and not entry.get("url", "").endswith(
                    "/favicon.ico"
                ):  # asked by the browser, not the page
                    errors.append(f"{entry.get('source', 'log')}: {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Network.loadingFailed" and not params.get("canceled"):  # noqa: SIM114
                errors.append(f"network: {params.get('errorText')} ({params.get('type', '')})")
        return errors

    def requests(self) -> list[str]:
        """Every URL the page requested, in order, without repeats."""
        urls: list[str] = []
        for event in self._events():
            if event.get("method") == "Network.requestWillBeSent":
                url = (event.get("params") or {}).get("request", {}).get("url", "")
                if url not in urls:
                    urls.append(url)
        return urls

    def external_requests(self) -> list[str]:
        """Requests that would leave the machine (anything but file:, data:, 127.0.0.1, ...)."""
        return [u for u in self.requests() if not is_local_url(u)]

    def dialogs(self) -> list[dict]:
        """The JavaScript dialogs (alert, confirm, prompt, beforeunload) the page opened, each as
        DevTools reports it (``type``, ``message``, ``url``); :meth:`Browser.open_untrusted`
        dismisses each as it opens."""
        return [e.get("params") or {} for e in self._events() if e.get("method") == "Page.javascriptDialogOpening"]

    def close(self) -> None:
        try:
            self.client.send("Target.closeTarget", {"targetId": self.target})
        except Exception:  # noqa: BLE001 - the tab may be gone already
            pass


class Browser:
    """One headless Chromium, network off; use as a context manager."""

    def __init__(self, chromium: str | None = None, timeout: float = 30.0) -> None:
        binary = chromium or find_chromium()
        if binary is None:
            raise FileNotFoundError(
                "no Chromium binary found (install the Debian package 'chromium' or set CHROME_BIN)"
            )
        self.timeout = timeout
        self.user_data = Path(tempfile.mkdtemp(prefix="stoffwechsel-chromium-"))
        self.log_path = self.user_data.parent / (self.user_data.name + ".log")
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--mute-audio",
            "--hide-scrollbars",
            # the network is off: no host name resolves except this machine's
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            f"--user-data-dir={self.user_data}",
            "--window-size=1280,800",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        self.client: _DevTools | None = None
        try:
            port_file = self.user_data / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"Chromium exited ({self.proc.returncode}): {self.log_path.read_text(errors='replace')[-2000:]}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError("Chromium did not open its DevTools port")
                time.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            self.client = _DevTools(f"ws://127.0.0.1:{port.strip()}{path.strip()}", timeout)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _navigate(self, url: str | Path, viewport: dict | None) -> tuple[_DevTools, str, Tab, int]:
        """A new tab (of ``viewport`` size, if given) navigating to ``url`` (a path becomes a
        ``file:`` URL): the client, the tab's session, the tab and the index of its first event."""
        if isinstance(url, Path) or ":" not in str(url)[:10]:
            path = Path(url).resolve()
            if not path.is_file():
                raise FileNotFoundError(path)
            url = path.as_uri()
        client = self.client
        assert client is not None
        target = client.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = client.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            client.send(f"{domain}.enable", session=session)
        if viewport is not None:
            client.send(
                "Emulation.setDeviceMetricsOverride",
                {**viewport, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
        first = len(client.events)
        tab = Tab(client, session, target, first)
        navigated = client.send("Page.navigate", {"url": str(url)}, session=session)
        if navigated.get("errorText"):
            raise RuntimeError(f"Chromium could not open {url}: {navigated['errorText']}")
        return client, session, tab, first

    def open(self, url: str, viewport: tuple[int, int] = (1280, 800), settle: float = 0.3) -> Tab:
        """Load ``url`` (a path is turned into a ``file:`` URL) in a new tab of ``viewport`` size;
        follows a meta refresh; waits for fonts and ``settle`` seconds of late events."""
        width, height = viewport
        client, session, tab, first = self._navigate(url, {"width": width, "height": height})
        loaded = client.wait_for("Page.loadEventFired", session, after=first)
        for _ in range(5):  # a meta refresh (the site's index.html) navigates once more
            mark = client.events.index(loaded) + 1
            try:
                refresh = tab.evaluate(
                    "(() => { const m = document.querySelector('meta[http-equiv=refresh i]');"
                    " return m ? m.content : null; })()"
                )
            except RuntimeError as exc:
                if "navigated" not in str(exc):
                    raise
                refresh = "navigating"
            if not refresh:
                break
            loaded = client.wait_for("Page.loadEventFired", session, after=mark)
        tab.evaluate("document.fonts.ready.then(() => true)", await_promise=True)
        client.drain(settle)
        return tab

    def open_untrusted(self, url: str | Path, timeout: float | None = None, settle: float = 0.3) -> Tab:
        """Load ``url`` (a path is turned into a ``file:`` URL) in a new tab for a page that may
        run script it should not: every JavaScript dialog is dismissed as it opens (a page that
        calls ``alert()`` would otherwise hang before its load event), and the tab's
        :meth:`Tab.dialogs` lists them. Waits for the load event and ``settle`` seconds more (late
        timers and handlers); does not follow a meta refresh."""
        client, session, tab, first = self._navigate(url, None)
        seen, loaded = first, False
        deadline = time.monotonic() + (timeout or self.timeout)
        settled: float | None = None
        while True:
            while seen < len(client.events):
                event = client.events[seen]
                seen += 1
                if event.get("sessionId") != session:
                    continue
                if event.get("method") == "Page.javascriptDialogOpening":
                    client.send("Page.handleJavaScriptDialog", {"accept": False}, session=session)
                elif event.get("method") == "Page.loadEventFired":
                    loaded = True
            now = time.monotonic()
            if loaded and settled is None:
                settled = now + settle
            if settled is not None and now >= settled:
                return tab
            if now > deadline:
                raise TimeoutError(f"{url}: no load event within {timeout or self.timeout} s")
            try:
                data = client._receive(min(deadline, settled or deadline))
            except Exception:  # noqa: BLE001 - websocket timeout: nothing arrived
                continue
            if "method" in data:
                client.events.append(data)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.send("Browser.close")
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
            self.client.close()
            self.client = None
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.user_data, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
