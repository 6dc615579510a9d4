#!/usr/bin/env python3
"""Opens the HTML pages the tool writes in headless Chromium and checks what a person would see.

For each page (a file path) it loads file://PAGE, makes lazy images load, waits for the network to
go quiet, and reports every problem on one line naming the page:
  - an <img> that did not load (not complete, or naturalWidth 0), by its src;
  - a failed request, a request for anything but a file: or data: URL (the pages must be
    self-contained), a link or src to a local file that does not exist, a same-page #anchor with
    no element;
  - a console error or assert, an uncaught exception, a browser log entry at level error;
  - a full-page screenshot that is blank: the PNG is decoded here (zlib) and must show a spread of
    colours and a minimum share of pixels that differ from the background.
Every local .html page a checked page links to is checked as well (--no-follow to stop that).
A page that passes gets one line: its images, links, screenshot path and size.

Exit status: 0 every page passed; 1 a problem (one line each); 2 usage; 77 skipped because no
Chromium was found (the line `skipped: REASON` says why). `--self-test` writes fixture pages
(good, broken image, broken link, network image, console error, exception, blank, missing) to a
temporary folder and checks that each is judged as it should be.

Python 3 standard library only: the WebSocket client for the DevTools protocol and the PNG decoder
are here.
"""

import argparse
import base64
import collections
import hashlib
import itertools
import json
import math
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zlib

SKIPPED = 77
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
REPO = pathlib.Path(__file__).resolve().parent.parent


class CheckError(Exception):
    """A failure of the checker or the browser itself (not of a page)."""


# ---------------------------------------------------------------------------------------------
# WebSocket client (RFC 6455), just what the DevTools protocol needs: text frames, masked sends,
# fragmented and large receives, ping/pong, close.

class WebSocket:
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, host, port, path, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = bytearray()
        self.fragments = []
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            self._receive_some()
        end = self.buffer.index(b"\r\n\r\n")
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        if len(lines[0].split()) < 2 or lines[0].split()[1] != "101":
            raise CheckError(f"DevTools WebSocket handshake refused: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        expected = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise CheckError("DevTools WebSocket handshake: wrong Sec-WebSocket-Accept")

    def _receive_some(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise CheckError("the browser closed the DevTools connection")
        self.buffer += chunk

    def _send_frame(self, opcode, payload):
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        # XOR with the repeated mask as one big integer: no per-byte Python loop.
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.sock.sendall(header + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def receive(self, timeout):
        """The next whole text message, or None if none arrived within `timeout` seconds.
        A partly received frame stays in the buffer for the next call."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take_frame()
            if frame is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.sock.settimeout(remaining)
                try:
                    self._receive_some()
                except socket.timeout:
                    return None
                continue
            fin, opcode, payload = frame
            if opcode == 0x8:
                raise CheckError("the browser closed the DevTools connection")
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            self.fragments.append(payload)
            if fin:
                message = b"".join(self.fragments)
                self.fragments = []
                return message.decode()

    def _take_frame(self):
        buf = self.buffer
        if len(buf) < 2:
            return None
        fin, opcode = buf[0] & 0x80, buf[0] & 0x0F
        masked, length = buf[1] & 0x80, buf[1] & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, pos = struct.unpack(">H", buf[2:4])[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, pos = struct.unpack(">Q", buf[2:10])[0], 10
        if masked:  # servers do not mask, but be exact if one does
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos:pos + length])
        if masked:
            mask = buf[pos - 4:pos]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        del buf[:pos + length]
        return bool(fin), opcode, payload

    def close(self):
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# DevTools protocol over one browser-level connection; pages are flattened target sessions.

class DevTools:
    def __init__(self, ws):
        self.ws = ws
        self.last_id = 0
        self.listeners = {}  # sessionId -> function(method, params)

    def _dispatch(self, message):
        listener = self.listeners.get(message.get("sessionId"))
        if listener and "method" in message:
            listener(message["method"], message.get("params", {}))

    def call(self, method, params=None, session=None, timeout=30.0):
        self.last_id += 1
        request = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        self.ws.send(json.dumps(request))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            text = self.ws.receive(remaining) if remaining > 0 else None
            if text is None:
                raise CheckError(f"{method}: no answer from the browser within {timeout:.0f} s")
            message = json.loads(text)
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise CheckError(f"{method}: {message['error'].get('message', message['error'])}")
                return message.get("result", {})
            self._dispatch(message)

    def pump(self, done, timeout):
        """Handles events until done() is true (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            text = self.ws.receive(min(remaining, 0.1))
            if text is not None:
                self._dispatch(json.loads(text))
        return True


class Browser:
    """A headless Chromium with remote debugging, in its own temporary profile."""

    def __init__(self, executable, timeout=30.0):
        self.profile = tempfile.mkdtemp(prefix="check-pages-profile-")
        self.log = open(os.path.join(self.profile, "browser.log"), "wb")
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
             "--hide-scrollbars", "--mute-audio", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        lines = []
        while len(lines) < 2:
            if self.process.poll() is not None:
                self.close()
                raise CheckError(f"{executable} exited with status {self.process.returncode} before opening "
                                 f"its DevTools port: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.close()
                raise CheckError(f"{executable} did not open its DevTools port within {timeout:.0f} s: {self._log_tail()}")
            time.sleep(0.05)
            try:
                with open(port_file) as f:
                    lines = f.read().split()
            except FileNotFoundError:
                pass
        self.devtools = DevTools(WebSocket("127.0.0.1", int(lines[0]), lines[1]))
        self.version = self.devtools.call("Browser.getVersion").get("product", executable)

    def _log_tail(self):
        try:
            with open(os.path.join(self.profile, "browser.log"), "rb") as f:
                text = f.read().decode(errors="replace").strip().splitlines()
            return " | ".join(text[-3:]) or "no output"
        except OSError:
            return "no output"

    def close(self):
        if getattr(self, "devtools", None):
            try:
                self.devtools.call("Browser.close", timeout=5)
            except (CheckError, OSError):
                pass
            self.devtools.ws.close()
            self.devtools = None
        if self.process.poll() is None:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()  # our own child, by its pid
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def find_browser(explicit=None):
    """The Chromium to use and None, or None and why there is none."""
    if explicit:
        path = shutil.which(explicit)
        return (path, None) if path else (None, f"--browser {explicit} is not an executable")
    if os.environ.get("CHROMIUM"):
        path = shutil.which(os.environ["CHROMIUM"])
        return (path, None) if path else (None, f"CHROMIUM={os.environ['CHROMIUM']} is not an executable")
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path, None
    return None, ("no headless Chromium found (looked for " + ", ".join(BROWSERS) +
                  " on PATH; Debian: apt-get install chromium-headless-shell)")


# ---------------------------------------------------------------------------------------------
# PNG decoding (8-bit, non-interlaced: what Chromium writes) and the blank-screenshot test.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _unfilter(kind, line, prior, bpp, masks):
    n = len(line)
    if kind == 0:
        return line
    if kind == 1:  # Sub: a running sum per channel, done by itertools in C
        out = bytearray(n)
        for c in range(bpp):
            out[c::bpp] = bytes(map((255).__and__, itertools.accumulate(line[c::bpp])))
        return bytes(out)
    if kind == 2:  # Up: bytewise sums of two rows at once as one integer, without carries between bytes
        low, high = masks
        a, b = int.from_bytes(line, "little"), int.from_bytes(prior, "little")
        return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "little")
    out = bytearray(n)
    if kind == 3:  # Average
        for i in range(n):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (line[i] + ((left + prior[i]) >> 1)) & 255
        return bytes(out)
    if kind == 4:  # Paeth
        for i in range(n):
            b = prior[i]
            if i >= bpp:
                a, c = out[i - bpp], prior[i - bpp]
            else:
                a = c = 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            out[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        return bytes(out)
    raise ValueError(f"unknown PNG filter type {kind}")


def decode_png(data):
    """(width, height, channels, rows): each row the bytes of its pixels, channels interleaved."""
    if data[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {colour}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG data is {len(raw)} bytes, {height * (stride + 1)} expected")
    masks = (int.from_bytes(b"\x7f" * stride, "little"), int.from_bytes(b"\x80" * stride, "little"))
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prior = _unfilter(raw[start], raw[start + 1:start + 1 + stride], prior, channels, masks)
        rows.append(prior)
    return width, height, channels, rows


def encode_png(width, height, channels, rows, filters=(0,)):
    """A PNG of `rows`, row y filtered with filters[y % len(filters)]: the self-test's images and the
    decoder's own check (every filter type must come back unchanged)."""
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw, prior = bytearray(), bytes(width * channels)
    for y, row in enumerate(rows):
        kind = filters[y % len(filters)]
        out = bytearray([kind])
        for i, x in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b = prior[i]
            c = prior[i - channels] if i >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out.append((x - pred) & 255)
        raw += out
        prior = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def screenshot_content(png, samples=150_000):
    """What a screenshot shows: width, height, the share of pixels unlike the most common colour
    (the background), and how many distinct colours, over an even sample of its pixels."""
    width, height, channels, rows = decode_png(png)
    step_y = max(1, int(math.sqrt(width * height / samples)))
    step_x = step_y * channels
    colours = collections.Counter()
    for row in rows[::step_y]:
        colours.update(row[x:x + 3] for x in range(0, len(row) - channels + 1, step_x))
    total = sum(colours.values())
    background = colours.most_common(1)[0][1] if total else 0
    return width, height, (1 - background / total) if total else 0.0, len(colours)


# ---------------------------------------------------------------------------------------------
# Checking one page.

Problem = collections.namedtuple("Problem", "kind detail")
LOCAL_SCHEMES = ("file", "data", "blob", "about")

# Lazy images: make them eager, then scroll through the page once so that anything loaded on
# scrolling is requested, and wait (at most 20 s) for every image to finish or fail.
SETTLE_JS = r"""
(async () => {
  for (const img of document.images) if (img.loading === 'lazy') img.loading = 'eager';
  const pause = ms => new Promise(r => setTimeout(r, ms));
  const bottom = () => Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);
  const step = Math.max(200, window.innerHeight);
  for (let y = 0, n = 0; y < bottom() && n < 400; y += step, n++) { window.scrollTo(0, y); await pause(30); }
  window.scrollTo(0, bottom());
  await pause(30);
  window.scrollTo(0, 0);
  const pending = Array.from(document.images).filter(img => !img.complete).map(img => new Promise(r => {
    img.addEventListener('load', r, {once: true}); img.addEventListener('error', r, {once: true}); }));
  await Promise.race([Promise.all(pending), pause(20000)]);
  return document.images.length;
})()
"""

COLLECT_JS = r"""
(() => {
  const images = Array.from(document.images, img => ({
    src: img.getAttribute('src') || '', url: img.currentSrc || img.src || '',
    complete: img.complete, width: img.naturalWidth, height: img.naturalHeight }));
  const resolve = value => { try { return new URL(value, document.baseURI); } catch (e) { return null; } };
  const refs = [];
  for (const [selector, name] of [['a[href], area[href], link[href]', 'href'], ['[src]:not(img)', 'src']])
    for (const el of document.querySelectorAll(selector)) {
      const url = resolve(el.getAttribute(name));
      refs.push({tag: el.tagName.toLowerCase(), attr: el.getAttribute(name), url: url ? url.href : null});
    }
  const here = location.href.split('#')[0];
  const missingAnchors = [];
  for (const el of document.querySelectorAll('a[href*="#"]')) {
    const url = resolve(el.getAttribute('href'));
    if (!url) continue;
    const id = decodeURIComponent(url.hash.slice(1));
    if (url.href.split('#')[0] !== here || id === '' || id === 'top') continue;
    if (!document.getElementById(id) && document.getElementsByName(id).length === 0) missingAnchors.push(el.getAttribute('href'));
  }
  return {images, refs, missingAnchors, title: document.title};
})()
"""


class PageState:
    """What the browser reports about one page while it loads."""

    def __init__(self):
        self.loaded = False
        self.urls = {}
        self.in_flight = set()
        self.quiet_since = time.monotonic()
        self.failed = []  # (url, errorText)
        self.console = []
        self.exceptions = []
        self.log_errors = []  # (source, url, text)
        self.external = []  # requests that leave the machine: the pages must be self-contained

    def on_event(self, method, params):
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Network.requestWillBeSent":
            url = self.urls[params["requestId"]] = params["request"]["url"]
            if urllib.parse.urlsplit(url).scheme not in LOCAL_SCHEMES and url not in self.external:
                self.external.append(url)
            self.in_flight.add(params["requestId"])
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.in_flight.discard(params["requestId"])
            if not self.in_flight:
                self.quiet_since = time.monotonic()
            if method == "Network.loadingFailed" and not params.get("canceled"):
                reason = params.get("errorText") or "failed"
                if params.get("blockedReason"):
                    reason += f" (blocked: {params['blockedReason']})"
                self.failed.append((self.urls.get(params["requestId"], "?"), reason))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            words = [str(a["value"]) if "value" in a else a.get("description", a.get("type", "?"))
                     for a in params.get("args", [])]
            self.console.append(f"console.{params['type']}: {' '.join(words)}{_where(params.get('stackTrace'))}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = (details.get("exception", {}).get("description") or details.get("text") or "?").splitlines()[0]
            where = f" at {_short(details['url'])}:{details.get('lineNumber', 0) + 1}" if details.get("url") else ""
            self.exceptions.append(text + where)
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.log_errors.append((entry.get("source", "?"), entry.get("url", ""), entry.get("text", "?")))

    def network_quiet(self, seconds=0.5):
        return not self.in_flight and time.monotonic() - self.quiet_since >= seconds


def _short(url):
    return os.path.basename(urllib.parse.urlsplit(url).path) or url


def _where(stack):
    frames = (stack or {}).get("callFrames") or []
    if not frames or not frames[0].get("url"):
        return ""
    return f" (at {_short(frames[0]['url'])}:{frames[0].get('lineNumber', 0) + 1})"


def local_path(url):
    """The file a file: URL names, else None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return None
    return urllib.request.url2pathname(urllib.parse.unquote(parts.path))


def evaluate(devtools, session, expression, timeout=30.0):
    result = devtools.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                 "returnByValue": True}, session, timeout)
    if "exceptionDetails" in result:
        raise CheckError(f"the checker's own script failed: {result['exceptionDetails'].get('text')}")
    return result["result"].get("value")


def check_page(browser, page, shots, options):
    """(problems, summary line, local .html pages it links to)."""
    page = pathlib.Path(page)
    if not page.is_file():
        return [Problem("page missing", f"{page} does not exist")], None, []
    devtools = browser.devtools
    target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    state = PageState()
    devtools.listeners[session] = state.on_event
    problems = []
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            devtools.call(f"{domain}.enable", session=session)
        devtools.call("Emulation.setDeviceMetricsOverride", {"width": options.width, "height": options.height,
                                                             "deviceScaleFactor": 1, "mobile": False}, session)
        navigation = devtools.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
        if navigation.get("errorText"):
            return [Problem("page failed", f"loading failed: {navigation['errorText']}")], None, []
        if not devtools.pump(lambda: state.loaded, options.timeout):
            problems.append(Problem("slow page", f"no load event within {options.timeout:.0f} s"))
        evaluate(devtools, session, SETTLE_JS, timeout=options.timeout + 30)
        if not devtools.pump(state.network_quiet, options.timeout):
            problems.append(Problem("slow page", f"requests still open after {options.timeout:.0f} s: " +
                                    ", ".join(_short(state.urls.get(r, "?")) for r in sorted(state.in_flight)[:5])))
        found = evaluate(devtools, session, COLLECT_JS)

        broken = [img for img in found["images"] if not img["complete"] or img["width"] == 0]
        failures = dict(state.failed)
        for img in broken:
            reason = failures.pop(img["url"], "not complete" if not img["complete"] else "no pixels (naturalWidth 0)")
            problems.append(Problem("broken image", f"<img src=\"{img['src']}\">: {reason}"))
        for url, reason in failures.items():
            problems.append(Problem("failed request", f"{_short(url)}: {reason} ({url})"))

        linked, missing = [], set()
        for ref in found["refs"]:
            if ref["url"] is None:
                problems.append(Problem("bad link", f"<{ref['tag']} {ref['attr']!r}>: not a URL"))
                continue
            path = local_path(ref["url"])
            if path is None:
                continue
            if not os.path.exists(path):
                if path not in missing:
                    missing.add(path)
                    problems.append(Problem("missing link target", f"<{ref['tag']} {ref['attr']!r}>: no file {path}"))
            elif ref["tag"] in ("a", "area") and path.endswith((".html", ".htm")) and os.path.isfile(path):
                linked.append(path)
        for href in found["missingAnchors"]:
            problems.append(Problem("missing anchor", f"<a href=\"{href}\">: no element with that id on the page"))

        problems += [Problem("external asset", f"{url}: a network request (pages must be self-contained: file: and data: URLs only)")
                     for url in state.external]
        problems += [Problem("console error", text) for text in state.console]
        problems += [Problem("uncaught exception", text) for text in state.exceptions]
        reported = {img["url"] for img in broken} | {url for url, _ in state.failed} | {
            pathlib.Path(p).resolve().as_uri() for p in missing}
        for source, url, text in state.log_errors:
            if source == "network" and url in reported:
                continue  # the same failure, already named above
            problems.append(Problem("browser error", f"[{source}] {text}" + (f" ({url})" if url else "")))

        shot, shot_problem = screenshot(devtools, session, page, shots, options)
        if shot_problem:
            problems.append(shot_problem)
        summary = (f"{len(found['images'])} images, {sum(1 for r in found['refs'] if r['url'] and local_path(r['url']))} local links, "
                   f"screenshot {shot}")
        return problems, summary, linked
    finally:
        del devtools.listeners[session]
        try:
            devtools.call("Target.closeTarget", {"targetId": target})
        except CheckError:
            pass


def screenshot_name(page, shots, taken):
    """A file name in `shots` from the page's folder and name (pages are often all report.html)."""
    stem = "-".join(part for part in (page.resolve().parent.name, page.stem) if part)
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    name, n = stem + ".png", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.png"
    taken.add(name)
    return shots / name


def screenshot(devtools, session, page, shots, options):
    """Takes the full-page screenshot, writes it, and judges whether it shows anything:
    (text for the summary, a Problem or None)."""
    metrics = devtools.call("Page.getLayoutMetrics", session=session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    width = max(1, min(math.ceil(size["width"]), options.max_width))
    full_height = max(1, math.ceil(size["height"]))
    height = min(full_height, options.max_height)
    shot = devtools.call("Page.captureScreenshot", {
        # optimizeForSpeed: Chromium then filters every row with Up, which decode_png undoes without
        # a per-byte Python loop (its default mix of Paeth and Average rows takes 10x longer here).
        "format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}, session, timeout=120)
    png = base64.b64decode(shot["data"])
    path = screenshot_name(page, shots, options.taken)
    path.write_bytes(png)
    try:
        w, h, ink, colours = screenshot_content(png)
    except (ValueError, zlib.error) as error:
        return str(path), Problem("bad screenshot", f"{path}: cannot decode: {error}")
    cut = f", page {full_height} px tall, cut at {height}" if height < full_height else ""
    text = f"{path} ({w}x{h}{cut}; {ink:.1%} non-background, {colours} colours)"
    if ink < options.min_ink or colours < options.min_colours:
        return text, Problem("blank screenshot", f"{path} shows almost nothing: {ink:.2%} of pixels differ from "
                             f"the background (at least {options.min_ink:.1%} wanted), {colours} colours "
                             f"(at least {options.min_colours} wanted)")
    return text, None


def check_pages(browser, pages, options, fail_word="FAIL"):
    """Checks `pages` and the local pages they link to; prints one line per problem (starting with
    `fail_word`) and one per page that passed. [(page, problems)], in the order checked."""
    shots = pathlib.Path(options.screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    options.taken = set()
    queue = collections.deque(pages)
    seen = {os.path.realpath(p) for p in pages}
    results = []
    while queue:
        page = queue.popleft()
        try:
            problems, summary, linked = check_page(browser, page, shots, options)
        except CheckError as error:  # e.g. the page navigated away mid-check: this page fails, go on
            problems, summary, linked = [Problem("check failed", str(error))], None, []
        results.append((page, problems))
        for problem in problems:
            print(f"{fail_word} {page}: {problem.kind}: {problem.detail}", flush=True)
        if not problems:
            print(f"ok   {page}: {summary}", flush=True)
        if options.follow:
            for path in linked:
                real = os.path.realpath(path)
                if real not in seen and len(seen) < options.max_pages:
                    seen.add(real)
                    queue.append(os.path.relpath(path) if not os.path.isabs(page) else path)
    return results


# ---------------------------------------------------------------------------------------------
# Self-test: fixture pages with known faults, each of which must be judged as expected.

def _gradient_rows(width, height):
    return [bytes(v for x in range(width) for v in ((x * 255) // width, (y * 255) // height, 128))
            for y in range(height)]


FIXTURE_BODY = """<h1>Fixture: {name}</h1>
<p>A page of the self-test of check_pages.py: a table, an image and an inline SVG, so that the
screenshot shows something.</p>
<table><tr><th>layer</th><th>maps</th></tr><tr><td>L1</td><td>2</td></tr><tr><td>L2</td><td>3</td></tr></table>
<p><img src="gradient.png" width="192" height="128" alt="gradient">
<svg width="200" height="128"><rect width="200" height="128" fill="#3060c0"/><circle cx="100" cy="64" r="40" fill="#f0c020"/></svg></p>
"""

FIXTURES = {
    # name: (extra HTML, the problem kinds it must be judged to have)
    "good.html": ("""<p><a href="other.html">another page</a> | <a href="gradient.png">the image</a> |
        <a href="#bottom">to the bottom</a></p>
        <div style="height:9000px;background:linear-gradient(#fff,#cde)"></div>
        <p id="bottom">A lazy image far below the first screen:
        <img loading="lazy" src="gradient.png?lazy" width="96" height="64" alt="lazy"></p>""", set()),
    "broken-image.html": ('<p><img src="no-such-image.png" width="64" height="64" alt="missing"></p>', {"broken image"}),
    "broken-link.html": ('<p><a href="no-such-page.html">gone</a> <a href="#nowhere">no anchor</a></p>',
                         {"missing link target", "missing anchor"}),
    "external.html": ('<p><img src="http://127.0.0.1:9/external.png" width="64" height="64" alt="external"></p>',
                      {"broken image", "external asset"}),
    "console-error.html": ("<script>console.error('deliberate console error');</script>", {"console error"}),
    "exception.html": ("<script>null.deliberate();</script>", {"uncaught exception"}),
    "blank.html": (None, {"blank screenshot"}),
    "not-there.html": (None, {"page missing"}),
}


def self_test(browser, options):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="check-pages-self-test-"))
    keep_shots = bool(options.screenshots)
    failures = 0
    try:
        rows = _gradient_rows(96, 64)
        for filters in ((0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4)):
            decoded = decode_png(encode_png(96, 64, 3, rows, filters))
            if decoded[:3] != (96, 64, 3) or decoded[3] != rows:
                print(f"FAIL self-test: the PNG decoder does not invert filters {filters}")
                failures += 1
        (folder / "gradient.png").write_bytes(encode_png(96, 64, 3, rows, (0, 1, 2, 3, 4)))
        style = "<style>body{font-family:sans-serif;margin:2em} td,th{border:1px solid #888;padding:4px}</style>"
        (folder / "other.html").write_text(f"<!doctype html><title>other</title>{style}" +
                                           FIXTURE_BODY.format(name="linked page"))
        for name, (extra, _) in FIXTURES.items():
            if name == "blank.html":
                (folder / name).write_text("<!doctype html><title>blank</title><body></body>")
            elif extra is not None:
                (folder / name).write_text(f"<!doctype html><title>{name}</title>{style}" +
                                           FIXTURE_BODY.format(name=name) + extra)
        options.screenshots = options.screenshots or str(folder / "screenshots")
        for name, (_, expected) in FIXTURES.items():
            print(f"-- {name}: expecting {', '.join(sorted(expected)) or 'a pass'}", flush=True)
            options.follow = name == "good.html"
            results = check_pages(browser, [str(folder / name)], options, fail_word="  seen")
            kinds = {problem.kind for _, problems in results for problem in problems}
            if name == "good.html" and len(results) != 2:
                print(f"FAIL self-test: good.html links to other.html, but {len(results)} page(s) were checked")
                failures += 1
            if kinds != expected:
                print(f"FAIL self-test: {name} judged {sorted(kinds) or 'good'}, expected {sorted(expected) or 'good'}")
                failures += 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("self-test: " + ("passed" if not failures else f"{failures} failure(s)") +
          ("" if keep_shots else " (its screenshots went with the temporary folder; --screenshots DIR keeps them)"),
          flush=True)
    return failures


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="*", help="HTML files to check")
    parser.add_argument("--self-test", action="store_true", help="check fixture pages with known faults instead")
    parser.add_argument("--screenshots", help="folder for the screenshots (default: .build/page-screenshots "
                        "in the repository; a temporary folder for --self-test)")
    parser.add_argument("--browser", help="the Chromium executable (default: $CHROMIUM, else the first of "
                        + ", ".join(BROWSERS) + " on PATH)")
    parser.add_argument("--no-follow", dest="follow", action="store_false",
                        help="do not check the local .html pages the pages link to")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels (default 1280)")
    parser.add_argument("--height", type=int, default=900, help="viewport height in CSS pixels (default 900)")
    parser.add_argument("--max-width", type=int, default=4096, help="widest screenshot (default 4096)")
    parser.add_argument("--max-height", type=int, default=12000, help="tallest screenshot; taller pages are cut (default 12000)")
    parser.add_argument("--min-ink", type=float, default=0.005,
                        help="least share of pixels unlike the background for a screenshot not to be blank (default 0.005)")
    parser.add_argument("--min-colours", type=int, default=8, help="least distinct colours in a screenshot (default 8)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a page may take to load and settle (default 60)")
    parser.add_argument("--max-pages", type=int, default=2000, help="most pages to check, linked ones included (default 2000)")
    options = parser.parse_args()
    if options.self_test == bool(options.pages):
        parser.error("give the pages to check, or --self-test")

    executable, reason = find_browser(options.browser)
    if executable is None:
        print(f"skipped: {reason}", flush=True)
        return SKIPPED
    try:
        browser = Browser(executable)
    except (CheckError, OSError) as error:
        print(f"FAIL browser: {error}", flush=True)
        return 1
    started = time.monotonic()
    try:
        print(f"browser: {browser.version} ({executable})", flush=True)
        if options.self_test:
            return 1 if self_test(browser, options) else 0
        options.screenshots = options.screenshots or str(REPO / ".build" / "page-screenshots")
        results = check_pages(browser, options.pages, options)
        failures = sum(len(problems) for _, problems in results)
        print(f"{len(results)} page(s) checked in {time.monotonic() - started:.1f} s: " +
              (f"{failures} problem(s)" if failures else "all passed") + f"; screenshots in {options.screenshots}",
              flush=True)
        return 1 if failures else 0
    except (CheckError, OSError) as error:
        print(f"FAIL browser: {error}", flush=True)
        return 1
    finally:
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
