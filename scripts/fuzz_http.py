#!/usr/bin/env python3
"""Bounded, seeded hostile-HTTP client for the lipsync server.

Sends ``--count`` requests one after another over raw TCP sockets, so it can
send bytes that ordinary clients refuse to produce. Same ``--seed`` means the
same requests in the same order. Standard library only.

Categories (the key used in ``by_category``):

  sweep           every route with every common method (GET POST PUT DELETE
                  PATCH HEAD OPTIONS): the right ones and the wrong ones.
  json_random     random JSON values of every type as the body, plus broken
                  JSON (NaN, trailing commas, BOM, UTF-16, duplicate keys).
  wrong_types     GenerateRequest fields with the wrong JSON type (numbers as
                  strings, arrays, objects, null, booleans).
  numbers         huge, tiny, negative, zero and fractional rate/chunks
                  (1e308, 2**80, -2**70, 1e400, -0, 0.5).
  deep_nesting    arrays/objects nested 10,000 (and 100,000) levels deep.
  long_strings    100k-character values and keys.
  unknown_values  unknown languages, voices, models, engines, avatars,
                  assign and mode values.
  text_edge       text of only whitespace, emoji, control characters, NULs,
                  bidi overrides, combining marks, mixed scripts, lone
                  surrogates.
  bad_utf8        invalid UTF-8 in the body, the path and the query.
  nul_bytes       NUL bytes in the path, query, headers and body.
  bad_headers     odd or overlong Content-Type; non-numeric, negative, huge,
                  duplicated and conflicting Content-Length; Transfer-Encoding
                  tricks; broken request lines, versions and header syntax.
  short_body      a body shorter than its Content-Length. Mostly followed by
                  a delayed write half-close; a couple are left open and end
                  in the socket timeout (counted as timeouts, status -1).
  oversized       a few MB to /api/generate, /api/generate_parallel,
                  /api/jobs and /api/avatars, plus huge declared lengths.
  path_tricks     traversal, encoded dots, %00, very long and unicode ids in
                  /api/jobs/{id}, /api/videos/{id}, avatar ids and upload names.
  avatar_upload   junk, truncated and faceless images/videos, lying PNG sizes,
                  mismatched content types and file extensions.
  methods         odd method tokens (lowercase, very long, binary, CONNECT).
  keep_alive      a few bursts of requests sharing one connection.
  plausible       a handful of requests that may be valid (text of a word or
                  two, in --language); everything else is meant to be rejected.

Requests with odd framing get a "nudge": if the server says nothing for 0.5 s
after the request was sent, the fuzzer shuts down its write side, so a server
still waiting for body bytes sees EOF. Such a server usually closes without an
answer, which is recorded as 0.

Status codes are recorded per request: 0 means no answer (refused, reset or
closed without a status line), -1 means the socket timeout ran out. With
``--pid`` the server's VmRSS is read after the first 20% of requests and at the
end. Finally GET /health is sent. One JSON object goes to stdout; the exit
status is 0 whenever the run completed. Besides the fields the test suite
reads, the object has ``by_category`` (status counts per category above) and
``unexpected_success`` (up to 10 requests built to be rejected that got a 2xx).
``--max-seconds`` optionally stops sending early; ``requests`` then says how
many were sent.
"""

from __future__ import annotations

import argparse
import json
import random
import select
import socket
import struct
import sys
import time
import urllib.parse
import zlib

# --------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------

# (path template, methods the server accepts)
ROUTES = [
    ("/health", {"GET"}),
    ("/metrics", {"GET"}),
    ("/openapi.json", {"GET"}),
    ("/", {"GET"}),
    ("/parallel_test", {"GET"}),
    ("/api/models", {"GET"}),
    ("/api/voices", {"GET"}),
    ("/api/avatars", {"GET", "POST"}),
    ("/api/generate", {"POST"}),
    ("/api/generate_parallel", {"POST"}),
    ("/api/jobs", {"POST"}),
    ("/api/jobs/{id}", {"GET"}),
    ("/api/videos/{id}", {"GET"}),
]
SWEEP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
GEN_PATHS = ["/api/generate", "/api/generate_parallel", "/api/jobs"]
POST_PATHS = GEN_PATHS + ["/api/avatars"]
# The language of the well-formed requests (--language).
LANGUAGE = "en"

FIELDS = ["text", "language", "voice", "rate", "engine", "model", "avatar",
          "assign", "chunks", "mode"]

# Seconds of silence after which a request with odd framing gets a write
# half-close (see Transport.send).
NUDGE = 0.5

# A change that makes a generate request certainly invalid on every
# generation route, so nothing sent by the fuzzer starts real work by accident.
GUARDS = [("text", ""), ("text", " \t\n "), ("rate", 5), ("rate", 9999),
          ("engine", "fuzz-engine")]

JUNK_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
              "multipart/form-data; boundary=x", "application/octet-stream", ""]
MEDIA_TYPES = ["image/png", "image/jpeg", "image/webp", "video/mp4", "video/webm",
               "video/quicktime"]
KNOWN_EXT = ["png", "jpg", "jpeg", "webp", "bmp", "mp4", "mov", "webm", "mkv", "avi"]

TRICK_IDS = [
    "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2E%2E/%2E%2E/etc/passwd", "..%00", "..%2500", "%00", "..", ".", "%2e", "%2e%2e",
    "....//....//etc/passwd", "..\\..\\windows\\win.ini", "%c0%ae%c0%ae%c0%af",
    "%ff%fe", "%e2%80%ae", "\u0430\u0432\u0430\u0442\u0430\u0440", "\U0001F600",
    "%F0%9F%98%80", "id;x=1", "%", "%zz", "~root", "$(id)", "{id}", "*", "CON",
    "null", "-1", "0", "99999999999999999999999999",
    "00000000-0000-0000-0000-000000000000", "default/../default", "default%2f..",
    " ", "%20", "\t", "a" * 10_000, "b" * 100_000,
]
TRICK_NAMES = [
    "../../etc/passwd", "../../tmp/evil.png", "..%2f..%2fevil.png", "%2e%2e%2fx.png",
    "x.png%00.sh", "x.png\x00.sh", "..%00.png", "/etc/passwd", "C:\\evil.png",
    "a" * 5000 + ".png", ".png", "png", "x.PNG", "x.png.exe", "x.", "", "x",
    "\U0001F600.png", "x .png", "x.png?y=1", "x.gif", "x.svg", "x.tar.gz",
    ".././.././x.mp4", "con.png", "x.png/", "\u202egnp.exe",
]
UNKNOWN = {
    "language": ["zz", "klingon", "en-", "xx-yy-zz", "../../etc/passwd", "ru;rm -rf /",
                 "EN\u0000", "\U0001F600", "l" * 300, "default", "mb-en1"],
    "voice": ["no-such-variant", "../../etc/passwd", "m99", "\U0001F600", "v" * 300],
    "model": ["no-such-model", "wav2lip_fuzz", "../wav2lip", "WAV2LIP", "wav2lip ",
              "m" * 300, "\U0001F600"],
    "engine": ["fuzz", "Wav2Lip", "VISEME", "wav2lip ", "", "gan", "e" * 300],
    "avatar": ["no-such-avatar", "../default", "default ", "DEFAULT", "x" * 300,
               "\U0001F600", "default\u0000"],
    "assign": ["fuzz", "SPLIT", "split ", "", "gan", "alternate"],
    "mode": ["fuzz", "Parallel", "", "both", "batch"],
}
# Unknown values that a lenient server might map onto a real one.
AMBIGUOUS = {"", "default", "wav2lip", "viseme", "split", "parallel"}
TEXT_EDGE_REJECT = [" ", "\t\n\r", "\u00a0\u2003\u3000", "\n" * 50, " " * 1000]
TEXT_EDGE_MAYBE = [
    "\U0001F600", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F3F3\ufe0f\u200d\U0001F308" * 3,
    "\x01\x02\x1b[31mhi", "hi\u0000there", "\u202ehello", "\ufeffhi", "\u200b\u200b",
    "hi \u043f\u0440\u0438\u0432\u0435\u0442 \u4f60\u597d \u0645\u0631\u062d\u0628\u0627",
    "h" + "\u0301" * 60 + "i", "\ud800", "\udfff hi", "\uffff", "\U0010FFFF",
    "<script>alert(1)</script>", "hi\r\nX-Injected: 1", "%s%s%n", "'; DROP TABLE x;--",
]


def fill(template: str, ident: str) -> str:
    return template.replace("{id}", ident)


# --------------------------------------------------------------------------
# A request case and the raw HTTP/1.1 transport
# --------------------------------------------------------------------------

class Case:
    __slots__ = ("cat", "method", "target", "headers", "body", "raw", "half_close",
                 "timeout", "expect_reject", "version", "content_length", "host",
                 "connection", "chunked_parts")

    def __init__(self, cat, method, target, body=b"", headers=None, *, raw=None,
                 half_close=False, timeout=None, expect_reject=True, version=b"HTTP/1.1",
                 content_length="auto", host=True, connection=b"close",
                 chunked_parts=None):
        self.cat = cat
        self.method = method if isinstance(method, bytes) else method.encode("latin-1")
        self.target = target if isinstance(target, bytes) else target.encode("utf-8", "surrogatepass")
        self.body = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
        self.headers = list(headers or [])
        self.raw = raw
        self.half_close = half_close
        self.timeout = timeout
        self.expect_reject = expect_reject
        self.version = version
        self.content_length = content_length
        self.host = host
        self.connection = connection
        self.chunked_parts = chunked_parts

    def encode(self, hostport: bytes) -> bytes:
        if self.raw is not None:
            return self.raw
        lines = [self.method + b" " + self.target + b" " + self.version]
        if self.host:
            lines.append(b"Host: " + hostport)
        for name, value in self.headers:
            n = name if isinstance(name, bytes) else name.encode("latin-1")
            v = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
            lines.append(n + b": " + v)
        if self.connection is not None:
            lines.append(b"Connection: " + self.connection)
        body = self.body
        if self.chunked_parts is not None:
            lines.append(b"Transfer-Encoding: chunked")
            body = b"".join(self.chunked_parts)
        elif self.content_length == "auto":
            if body or self.method in (b"POST", b"PUT", b"PATCH"):
                lines.append(b"Content-Length: " + str(len(body)).encode())
        elif self.content_length is not None:
            lines.append(b"Content-Length: " + self.content_length)
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def describe(self):
        return self.method.decode("latin-1")[:40], self.target.decode("utf-8", "replace")[:200]


class Transport:
    """One TCP connection; sends a request and reads one response."""

    MAX_BODY = 32 * 1024 * 1024

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.buf = b""
        self.eof = False
        self.nudge_at = None  # monotonic time at which to half-close if still silent

    def connect(self, deadline):
        self.close()
        s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(max(0.05, deadline - time.monotonic()))
        s.connect((self.host, self.port))
        s.setblocking(False)
        self.sock, self.buf, self.eof = s, b"", False

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _fill(self, deadline):
        """Read more bytes into buf. Returns False on EOF; raises TimeoutError."""
        if self.eof:
            return False
        while True:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                raise TimeoutError
            if self.nudge_at is not None and now >= self.nudge_at:
                self.nudge_at = None
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            wait = left if self.nudge_at is None else max(0.0, min(left, self.nudge_at - now))
            r, _, _ = select.select([self.sock], [], [], wait)
            if not r:
                continue
            try:
                chunk = self.sock.recv(262144)
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError, OSError):
                self.eof = True
                return False
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
            return True

    def send(self, data: bytes, deadline, nudge):
        """Send data, but stop early when the server answers or closes first.

        With `nudge` (seconds), the write side is shut down if the server has
        said nothing that long after the request was sent, so a server that
        waits for more body sees EOF instead of hanging the fuzzer."""
        self.nudge_at = None
        off = 0
        while off < len(data):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            r, w, _ = select.select([self.sock], [self.sock], [], left)
            if r:
                break  # early answer (e.g. 413) or close: go read it
            if w:
                try:
                    off += self.sock.send(data[off:off + 65536])
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError, OSError):
                    break
        if nudge is not None:
            self.nudge_at = time.monotonic() + nudge

    def read_response(self, deadline, head_request):
        """Returns (status, headers, body, reusable)."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                if len(self.buf) > 1_000_000 or not self._fill(deadline):
                    return 0, {}, self.buf[:200], False
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            try:
                if not parts[0].startswith(b"HTTP/"):
                    raise ValueError
                status = int(parts[1])
            except (ValueError, IndexError):
                return 0, {}, self.buf[:200], False
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            self.buf = rest
            if 100 <= status < 200:
                continue  # 100 Continue and friends
            break
        body = b""
        reusable = headers.get("connection", "").lower() != "close"
        try:
            if head_request or status in (204, 304):
                pass
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                body = self._read_chunked(deadline)
            elif "content-length" in headers:
                n = int(headers["content-length"])
                while len(self.buf) < n:
                    if len(self.buf) > self.MAX_BODY or not self._fill(deadline):
                        reusable = False
                        break
                body, self.buf = self.buf[:n], self.buf[n:]
            else:
                while len(self.buf) < self.MAX_BODY and self._fill(deadline):
                    pass
                body, self.buf, reusable = self.buf, b"", False
        except TimeoutError:
            body, reusable = self.buf, False
        except ValueError:
            body, reusable = self.buf, False
        return status, headers, body, reusable and not self.eof

    def _read_chunked(self, deadline):
        out = []
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise ValueError("eof in chunk size")
            size_line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while b"\r\n" not in self.buf:  # trailers are not expected
                    if not self._fill(deadline):
                        break
                self.buf = self.buf.partition(b"\r\n")[2]
                return b"".join(out)
            while len(self.buf) < size + 2:
                if not self._fill(deadline):
                    raise ValueError("eof in chunk")
            out.append(self.buf[:size])
            self.buf = self.buf[size + 2:]
            if sum(map(len, out)) > self.MAX_BODY:
                raise ValueError("too large")


# --------------------------------------------------------------------------
# Helpers that make hostile data
# --------------------------------------------------------------------------

def rand_str(rng, n=None):
    n = rng.randint(0, 12) if n is None else n
    pools = [(0x20, 0x7e), (0x00, 0x1f), (0x80, 0x7ff), (0x400, 0x4ff), (0x4e00, 0x9fff),
             (0xd800, 0xdfff), (0x1f300, 0x1faff), (0xfff0, 0xffff)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(pools)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def rand_number(rng):
    return rng.choice([0, -0.0, 1, -1, 80, 450, 2**31, 2**63, 2**64, 2**80, -2**70,
                       1e308, -1e308, 5e-324, 0.5, 1e1, 3.14159, rng.randint(-10**6, 10**6),
                       rng.uniform(-1e9, 1e9)])


def rand_json(rng, depth=0):
    kinds = ["null", "bool", "num", "str", "list", "dict"] if depth < 4 else ["null", "bool", "num", "str"]
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "num":
        return rand_number(rng)
    if kind == "str":
        return rand_str(rng)
    if kind == "list":
        return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    d = {}
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(FIELDS + [rand_str(rng, 3)])
        d[key] = rand_json(rng, depth + 1)
    return d


def dumps(value, rng=None) -> bytes:
    ascii_only = rng.random() < 0.5 if rng else True
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def guarded(rng, body: dict, avoid=()):
    """Adds one certain invalidity on a field other than those in `avoid`."""
    options = [g for g in GUARDS if g[0] not in avoid]
    name, value = rng.choice(options)
    body = dict(body)
    body[name] = value
    return body


def json_headers(rng):
    h = [("Content-Type", "application/json")]
    if rng.random() < 0.2:
        h.append(("Accept", "application/json"))
    return h


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def tiny_png(width=1, height=1, truncate=False) -> bytes:
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(min(height, 4)))
    idat = png_chunk(b"IDAT", zlib.compress(raw))
    if truncate:
        return sig + ihdr + idat[: max(8, len(idat) // 2)]
    return sig + ihdr + idat + png_chunk(b"IEND", b"")


def tiny_bmp() -> bytes:
    pixel = b"\x80\x80\x80\x00"
    header = b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixel), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, len(pixel), 2835, 2835, 0, 0)
    return header + info + pixel


def junk_media(rng) -> bytes:
    return rng.choice([
        lambda: rng.randbytes(rng.randint(1, 4096)),
        lambda: b"\x89PNG\r\n\x1a\n" + rng.randbytes(200),
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(100),
        lambda: b"RIFF\x00\x00\x00\x00WEBPVP8 " + rng.randbytes(64),
        lambda: b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + rng.randbytes(300),
        lambda: b"\x1aE\xdf\xa3" + rng.randbytes(200),
        lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        lambda: b"%PDF-1.4\n" + rng.randbytes(50),
        lambda: tiny_png(truncate=True),
        lambda: b"\x00" * rng.randint(1, 1000),
    ])()


def quote_bytes(s: str) -> str:
    return urllib.parse.quote(s, safe="")


# --------------------------------------------------------------------------
# Generators: each returns a list of Case objects (usually one)
# --------------------------------------------------------------------------

class Fuzzer:
    def __init__(self, rng, args):
        self.rng = rng
        self.args = args
        self.valid_budget = max(2, min(10, args.count // 120))
        self.oversize_budget = 8
        self.hang_budget = 2
        self.bomb_budget = 2
        self.job_ids = []

    # -- sweep ------------------------------------------------------------
    def sweep(self):
        cases = []
        for template, allowed in ROUTES:
            for method in SWEEP_METHODS:
                path = fill(template, "fuzz-no-such-id")
                body = b""
                headers = []
                if method in ("POST", "PUT", "PATCH"):
                    if path == "/api/avatars":
                        body, headers = b"", [("Content-Type", "image/png")]
                    else:
                        body, headers = b"{}", [("Content-Type", "application/json")]
                valid = method in allowed and "{id}" not in template and not (
                    method == "POST")
                valid = valid or (method == "HEAD" and "GET" in allowed and "{id}" not in template)
                cases.append(Case("sweep", method, path, body, headers, expect_reject=not valid))
        return cases

    # -- categories -------------------------------------------------------
    def json_random(self):
        rng = self.rng
        path = rng.choice(POST_PATHS)
        if rng.random() < 0.7:
            value = rand_json(rng)
            if isinstance(value, dict) and "text" in value and isinstance(value["text"], str) and value["text"].strip():
                value = guarded(rng, value, avoid=("text",))
            body = dumps(value, rng)
        else:
            body = rng.choice([
                b"NaN", b"Infinity", b"-Infinity", b"-", b"01", b"1.", b".5", b"1e", b"--1",
                b'{"text":"hi",}', b"{'text':'hi'}", b'{"text":"hi"', b'{"text" "hi"}',
                b'{"text":"hi","language":"en","rate":5,}', b"[1,2,", b'"\\u12"', b'"\\x41"',
                b'{"text":"hi","text":"","rate":5}', b"\xef\xbb\xbf" + b'{"text":"","language":"en"}',
                '{"text":"","language":"en"}'.encode("utf-16"), b'{"text":"hi"/*c*/,"rate":5}',
                b"{}{}", b"[]", b"{} garbage", b"true false", b" ", b"\r\n\t",
                b'{"text":"\\ud800\\udc00\\ud800","rate":5}', b'{"\\u0000":1}', b"null",
            ])
        ctype = rng.choice(["application/json"] * 3 + ["application/json; charset=utf-8", "text/plain", "image/png"])
        return [Case("json_random", "POST", path, body, [("Content-Type", ctype)])]

    def wrong_types(self):
        rng = self.rng
        field = rng.choice(FIELDS)
        good = {"text": "hi", "language": LANGUAGE}
        wrong = {
            "text": [5, 1.5, True, None, ["hi"], {"t": "hi"}, [], {}],
            "language": [1, True, ["en"], {"code": "en"}, 0.0],
            "voice": [3, False, ["m1"], {"v": 1}],
            "rate": ["150", "fast", True, [150], {"wpm": 150}, "1e2", ""],
            "engine": [1, True, ["wav2lip"], {"name": "viseme"}],
            "model": [2, False, ["wav2lip"], {"m": 1}],
            "avatar": [0, True, ["default"], {"id": "default"}],
            "assign": [1, False, ["split"], {"a": 1}],
            "chunks": ["4", "four", False, [4], {"n": 4}, 2.5],
            "mode": [1, True, ["parallel"], {"m": "regular"}],
        }[field]
        body = dict(good)
        body[field] = rng.choice(wrong + [None])
        body = guarded(rng, body, avoid=(field,))
        return [Case("wrong_types", "POST", rng.choice(GEN_PATHS), dumps(body, rng), json_headers(rng))]

    def numbers(self):
        rng = self.rng
        field = rng.choice(["rate", "chunks"])
        token = rng.choice([b"1e308", b"-1e308", b"1e400", b"-1e400", b"1208925819614629174706176",
                            b"-1180591620717411303424", b"0", b"-0", b"-1", b"-100", b"0.5",
                            b"79", b"451", b"17", b"1e1", b"9223372036854775808", b"-9223372036854775809",
                            b"18446744073709551616", b"2147483648", b"5e-324", b"1" * 400,
                            b"NaN", b"Infinity", b"0x10", b"+5", b"1_000"])
        path = rng.choice(["/api/generate_parallel", "/api/jobs"] if field == "chunks" else GEN_PATHS)
        extra = b',"mode":"parallel"' if path == "/api/jobs" and field == "chunks" else b""
        if field == "chunks" and token in (b"1e1", b"5e-324"):
            extra += b',"rate":5'  # stay invalid even if a fractional token is accepted
        body = b'{"text":"hi","language":"en","' + field.encode() + b'":' + token + extra + b"}"
        return [Case("numbers", "POST", path, body, [("Content-Type", "application/json")])]

    def deep_nesting(self):
        rng = self.rng
        depth = rng.choice([10_000, 10_000, 10_000, 100_000])
        kind = rng.choice(["array", "object", "array_in_text", "object_in_field", "unclosed", "mixed"])
        if kind == "array":
            body = b"[" * depth + b"]" * depth
        elif kind == "object":
            depth = min(depth, 40_000)
            body = b'{"a":' * depth + b"1" + b"}" * depth
        elif kind == "array_in_text":
            body = b'{"text":' + b"[" * depth + b"]" * depth + b"}"
        elif kind == "object_in_field":
            depth = min(depth, 40_000)
            body = (b'{"text":"hi","language":"en","rate":5,"extra":' + b'{"a":' * depth + b"null"
                    + b"}" * depth + b"}")
        elif kind == "unclosed":
            body = b"[" * depth
        else:
            body = b'[{"a":' * (depth // 2) + b"0" + b"}]" * (depth // 2)
        return [Case("deep_nesting", "POST", rng.choice(GEN_PATHS), body, [("Content-Type", "application/json")])]

    def long_strings(self):
        rng = self.rng
        n = 100_000
        filler = rng.choice(["a", "\u044f", " ", "\u00e9", "\\", "\""])
        s = filler * n
        shape = rng.choice(["text", "language", "voice", "model", "avatar", "engine", "key", "assign"])
        if shape == "text":
            body = {"text": s, "language": LANGUAGE}
        elif shape == "key":
            body = guarded(rng, {"text": "hi", "language": LANGUAGE, s: 1})
        else:
            body = guarded(rng, {"text": "hi", "language": LANGUAGE, shape: s}, avoid=(shape,))
        return [Case("long_strings", "POST", rng.choice(GEN_PATHS), dumps(body, rng), [("Content-Type", "application/json")])]

    def unknown_values(self):
        rng = self.rng
        field = rng.choice(list(UNKNOWN))
        value = rng.choice(UNKNOWN[field])
        body = {"text": "hi", "language": LANGUAGE, field: value}
        path = rng.choice(GEN_PATHS)
        # assign/chunks/mode may be ignored where they do not apply; keep those invalid anyway.
        ignorable = (field in ("assign",) and path == "/api/generate") or (field == "mode" and path != "/api/jobs")
        if ignorable or field == "voice" or value.strip().lower() in AMBIGUOUS:
            body = guarded(rng, body, avoid=(field,))
        if field == "assign" and path == "/api/jobs":
            body["mode"] = "parallel"
        return [Case("unknown_values", "POST", path, dumps(body, rng), json_headers(rng))]

    def text_edge(self):
        rng = self.rng
        if rng.random() < 0.35:
            text = rng.choice(TEXT_EDGE_REJECT)
            body = {"text": text, "language": LANGUAGE}
            return [Case("text_edge", "POST", rng.choice(GEN_PATHS), dumps(body, rng), json_headers(rng))]
        text = rng.choice(TEXT_EDGE_MAYBE)
        body = {"text": text, "language": LANGUAGE}
        if self.valid_budget > 0 and rng.random() < 0.15:
            self.valid_budget -= 1
            path = rng.choice(["/api/jobs", "/api/jobs", "/api/generate"])
            return [Case("text_edge", "POST", path, dumps(body, rng),
                         [("Content-Type", "application/json"), ("Accept", "application/json")],
                         expect_reject=False)]
        body = guarded(rng, body, avoid=("text",))
        return [Case("text_edge", "POST", rng.choice(GEN_PATHS), dumps(body, rng), json_headers(rng))]

    def bad_utf8(self):
        rng = self.rng
        bad = rng.choice([b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
                          b"\xf4\x90\x80\x80", b"\x80", b"\xc3", b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80"])
        where = rng.choice(["text", "language", "key", "outside", "path", "query", "header", "avatar_name"])
        if where in ("text", "language"):
            other = b'"language":"en"' if where == "text" else b'"text":"hi","rate":5'
            body = b'{"' + where.encode() + b'":"a' + bad + b'b",' + other + b"}"
            return [Case("bad_utf8", "POST", rng.choice(GEN_PATHS), body, [("Content-Type", "application/json")])]
        if where == "key":
            body = b'{"te' + bad + b'xt":"hi","language":"en"}'
            return [Case("bad_utf8", "POST", rng.choice(GEN_PATHS), body, [("Content-Type", "application/json")])]
        if where == "outside":
            body = bad + b'{"text":"hi","language":"en"}'
            return [Case("bad_utf8", "POST", rng.choice(GEN_PATHS), body, [("Content-Type", "application/json")])]
        if where == "path":
            template, _ = rng.choice(ROUTES)
            target = fill(template, "x").encode() + bad if "{id}" not in template else fill(template, "").encode() + bad
            if rng.random() < 0.5:
                target = b"/api/jobs/" + bad + b"id"
            return [Case("bad_utf8", "GET", target, half_close=True)]
        if where == "query":
            target = rng.choice([b"/health", b"/api/models", b"/api/avatars", b"/api/voices"]) + b"?x=" + bad
            # GET routes usually ignore the query; the answer may well be 200.
            return [Case("bad_utf8", "GET", target, expect_reject=False)]
        if where == "header":
            return [Case("bad_utf8", "POST", "/api/generate", b'{"text":""}',
                         [("Content-Type", b"application/json; charset=" + bad), (b"X-Fuzz", bad)])]
        target = b"/api/avatars?name=x" + bad + b".png"
        return [Case("bad_utf8", "POST", target, junk_media(rng), [("Content-Type", "image/png")])]

    def nul_bytes(self):
        rng = self.rng
        where = rng.choice(["path", "query", "header_value", "header_name", "body", "json_string", "method"])
        if where == "path":
            return [Case("nul_bytes", "GET", rng.choice([b"/health\x00", b"/api/jobs/\x00", b"/api/videos/a\x00b", b"/\x00/../health"]), half_close=True)]
        if where == "query":
            return [Case("nul_bytes", "POST", b"/api/avatars?name=x.png\x00.sh", junk_media(rng), [("Content-Type", "image/png")])]
        if where == "header_value":
            return [Case("nul_bytes", "POST", "/api/generate", b'{"text":""}', [("Content-Type", b"application/json\x00text/html")])]
        if where == "header_name":
            return [Case("nul_bytes", "POST", rng.choice(GEN_PATHS), b'{"text":""}',
                         [("Content-Type", "application/json"), (b"X-F\x00uzz", "1")], half_close=True)]
        if where == "body":
            return [Case("nul_bytes", "POST", rng.choice(GEN_PATHS), b"\x00" * rng.randint(1, 512), [("Content-Type", "application/json")])]
        if where == "json_string":
            body = b'{"text":"\x00","language":"en\x00"}'
            return [Case("nul_bytes", "POST", rng.choice(GEN_PATHS), body, [("Content-Type", "application/json")])]
        return [Case("nul_bytes", b"PO\x00ST", "/api/generate", b"{}", [("Content-Type", "application/json")])]

    def bad_headers(self):
        rng = self.rng
        invalid_body = dumps(guarded(rng, {"text": "hi", "language": LANGUAGE}, avoid=("text",) if rng.random() < 0.5 else ()))
        path = rng.choice(GEN_PATHS)
        kind = rng.randrange(24)
        C = lambda **kw: [Case("bad_headers", kw.pop("method", "POST"), kw.pop("target", path), kw.pop("body", invalid_body), kw.pop("headers", []), **kw)]
        if kind == 0:
            return C(headers=[("Content-Type", "application/json" + "; x=" + "y" * 20_000)])
        if kind == 1:
            return C(headers=[("Content-Type", "")])
        if kind == 2:
            return C(headers=[("Content-Type", rng.choice(["text/html", "application/xml", "*/*", "application/json;;;", "application/json; charset=utf-32", "APPLICATION/JSON", "application/ json", "multipart/form-data; boundary=" + "-" * 300]))])
        if kind == 3:
            return C(headers=[("Content-Type", "application/json"), ("Content-Type", "image/png")])
        if kind == 4:
            return C(content_length=rng.choice([b"abc", b"-1", b"1e3", b" 5", b"0x10", b"+10", b"", b"99999999999999999999999", b"1.5"]), headers=[("Content-Type", "application/json")], half_close=True)
        if kind == 5:
            n = str(len(invalid_body)).encode()
            return C(content_length=None, headers=[("Content-Type", "application/json"), ("Content-Length", n), ("Content-Length", b"3")], half_close=True)
        if kind == 6:
            n = str(len(invalid_body)).encode()
            return C(content_length=None, headers=[("Content-Type", "application/json"), ("Content-Length", n + b", " + n)], half_close=True)
        if kind == 7:  # CL + TE smuggling attempt
            body = b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            return C(body=body, content_length=str(len(body)).encode(), headers=[("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], half_close=True)
        if kind == 8:  # malformed chunked body
            parts = rng.choice([[b"zz\r\n", b"x\r\n", b"0\r\n\r\n"], [b"5\r\nab\r\n0\r\n\r\n"], [b"-1\r\nx\r\n0\r\n\r\n"],
                                [b"ffffffffffffffffff\r\nx\r\n"], [b"3;ext=\x00\r\nabc\r\n0\r\n\r\n"], [b"0\r\nX: y\r\n\r\n"]])
            return C(body=b"", chunked_parts=parts, half_close=True, headers=[("Content-Type", "application/json")])
        if kind == 9:  # valid chunked framing, invalid content
            data = invalid_body
            parts = [b"%x\r\n%s\r\n" % (len(data[i:i + 7]), data[i:i + 7]) for i in range(0, len(data), 7)] + [b"0\r\n\r\n"]
            return C(body=b"", chunked_parts=parts, headers=[("Content-Type", "application/json")])
        if kind == 10:
            return C(headers=[("Transfer-Encoding", rng.choice(["gzip", "chunked, identity", "x", "chunked\x0b", " chunked"])), ("Content-Type", "application/json")], half_close=True)
        if kind == 11:
            return C(headers=[("Content-Type", "application/json"), ("Content-Encoding", rng.choice(["gzip", "br", "deflate", "x"]))])
        if kind == 12:
            return C(headers=[("X-Long", "v" * rng.choice([8_000, 70_000, 200_000]))])
        if kind == 13:
            return C(headers=[("X-H%d" % i, "v") for i in range(rng.choice([500, 3000]))])
        if kind == 14:
            return C(half_close=True, raw=b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nContent-Length: 2\r\n\r\n{}")
        if kind == 15:
            return C(raw=b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n folded\r\nContent-Length: 2\r\n\r\n{}", half_close=True)
        if kind == 16:
            return C(version=rng.choice([b"HTTP/9.9", b"HTTP/0.9", b"HTTP/1.1.1", b"HTTX/1.1", b"HTTP/1", b"http/1.1", b""]), half_close=True)
        if kind == 17:
            return C(version=b"HTTP/1.0", host=False, connection=None, headers=[("Content-Type", "application/json")])
        if kind == 18:
            return C(target="http://evil.example" + path, headers=[("Content-Type", "application/json")], half_close=True)
        if kind == 19:
            return C(raw=rng.choice([b"\r\n\r\n", b"GET\r\n\r\n", b"GET /health\r\n\r\n", b"GET  /health  HTTP/1.1\r\n\r\n",
                                     b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                                     b"GET /health HTTP/1.1\nHost: x\n\n", b"GET /health HTTP/1.1\r\nHost: x\r\n\r"]), half_close=True)
        if kind == 20:
            return C(headers=[("Content-Type", "application/json"), ("Expect", rng.choice(["100-continue", "fuzz", "100-continue, x"]))])
        if kind == 21:
            return C(headers=[("Content-Type", "application/json"), ("Accept", rng.choice(["application/json;q=0", "*/*" * 2000, "video/mp4, application/json", "\U0001F600"]))])
        if kind == 22:
            return C(headers=[("Content-Type", "application/json"), ("Host", "x"), ("Host", "y")], host=False)
        return C(headers=[("Content-Type", "application/json"), ("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket")], connection=None)

    def short_body(self):
        rng = self.rng
        path = rng.choice(POST_PATHS)
        declared = rng.choice([100, 1000, 65536, 10**9, 10**12])
        body = b'{"text":"h' if path != "/api/avatars" else tiny_png(truncate=True)[:20]
        ctype = "application/json" if path != "/api/avatars" else "image/png"
        if self.hang_budget > 0 and rng.random() < 0.1:
            self.hang_budget -= 1
            return [Case("short_body", "POST", path, body, [("Content-Type", ctype)],
                         content_length=b"100", timeout=min(self.args.timeout, 3.0))]
        return [Case("short_body", "POST", path, body, [("Content-Type", ctype)],
                     content_length=str(declared).encode(), half_close=True)]

    def oversized(self):
        rng = self.rng
        if self.oversize_budget <= 0:
            return self.bad_headers()
        self.oversize_budget -= 1
        path = rng.choice(POST_PATHS)
        size = rng.choice([2, 3, 5]) * 1024 * 1024
        if path == "/api/avatars":
            body = b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)
            headers = [("Content-Type", "image/png")]
        else:
            body = b'{"text":"' + b"a" * size + b'","language":"en"}'
            headers = [("Content-Type", "application/json")]
        mode = rng.choice(["plain", "plain", "chunked", "declared"])
        if mode == "chunked":
            step = 262144
            parts = [b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step]) for i in range(0, len(body), step)] + [b"0\r\n\r\n"]
            return [Case("oversized", "POST", path, b"", headers, chunked_parts=parts)]
        if mode == "declared":
            return [Case("oversized", "POST", path, body[:1024], headers,
                         content_length=str(rng.choice([size, 10**10, 2**63 - 1])).encode(), half_close=True)]
        return [Case("oversized", "POST", path, body, headers)]

    def path_tricks(self):
        rng = self.rng
        kind = rng.choice(["job", "video", "video", "avatar_field", "upload_name", "route"])
        ident = rng.choice(TRICK_IDS)
        if kind in ("job", "video"):
            encoded = ident if rng.random() < 0.5 else quote_bytes(ident)
            base = "/api/jobs/" if kind == "job" else "/api/videos/"
            target = base + encoded + rng.choice(["", "", "/", "/..", "?x=1", "/../../health"])
            return [Case("path_tricks", rng.choice(["GET", "GET", "GET", "DELETE", "HEAD"]), target, half_close=True)]
        if kind == "avatar_field":
            body = {"text": "hi", "language": LANGUAGE, "avatar": ident[:5000]}
            if ident in ("default/../default",):
                body = guarded(rng, body, avoid=("avatar",))
            return [Case("path_tricks", "POST", rng.choice(GEN_PATHS), dumps(body, rng), json_headers(rng))]
        if kind == "upload_name":
            name = rng.choice(TRICK_NAMES)
            q = name if rng.random() < 0.3 else quote_bytes(name)
            ctype = rng.choice(MEDIA_TYPES + JUNK_TYPES)
            return [Case("path_tricks", "POST", "/api/avatars?name=" + q, junk_media(rng), [("Content-Type", ctype)])]
        target = rng.choice(["//health", "/health/", "/./health", "/api/../health", "/API/MODELS", "/api//models",
                             "/api/models%2f", "/%2e%2e/%2e%2e/etc/passwd", "/../../../../etc/passwd",
                             "/api/videos", "/api/videos/", "/api/jobs/", "/parallel_test/../openapi.json",
                             "/openapi.json%00", "/health?" + "x=1&" * 5000, "/" + "a/" * 5000,
                             "/api/avatars/../../etc/passwd", "/static/../../etc/passwd", "*"])
        # Some of these may be normalised to a real GET route and answer 200.
        return [Case("path_tricks", "GET", target, expect_reject=False)]

    def avatar_upload(self):
        rng = self.rng
        kind = rng.randrange(9)
        name = None
        if kind == 0:
            body, ctype = junk_media(rng), rng.choice(MEDIA_TYPES)
        elif kind == 1:
            body, ctype = tiny_png(rng.choice([1, 2, 16])), rng.choice(["image/png", "image/jpeg", "video/mp4"])
        elif kind == 2:
            body, ctype, name = tiny_bmp(), rng.choice(["application/octet-stream", "", "text/plain"]), "x.bmp"
        elif kind == 3:
            body, ctype = junk_media(rng), rng.choice(JUNK_TYPES + ["image/gif", "image/svg+xml", "video/x-msvideo", "image/png; x=1", "IMAGE/PNG"])
        elif kind == 4:
            body, ctype, name = junk_media(rng), rng.choice(JUNK_TYPES), "x." + rng.choice(KNOWN_EXT)
        elif kind == 5:
            body, ctype = b"", rng.choice(MEDIA_TYPES)
        elif kind == 6 and self.bomb_budget > 0:
            self.bomb_budget -= 1
            side = rng.choice([4096, 30000, 65535])
            body, ctype = tiny_png(side, side, truncate=True), "image/png"
        elif kind == 7:
            body, ctype, name = junk_media(rng), "application/octet-stream", "x." + rng.choice(["gif", "svg", "txt", "exe", "", "png.txt"])
        else:
            body, ctype = rng.randbytes(rng.randint(1, 64)), rng.choice(MEDIA_TYPES)
        target = "/api/avatars" + ("?name=" + quote_bytes(name) if name is not None else "")
        return [Case("avatar_upload", "POST", target, body, [("Content-Type", ctype)] if ctype else [])]

    def methods(self):
        rng = self.rng
        template, allowed = rng.choice(ROUTES)
        method = rng.choice([b"get", b"Post", b"CONNECT", b"TRACE", b"PROPFIND", b"FOO", b"M" * 5000,
                             b"G\xffT", b"GET\tX", b"\x01\x02", b"POST/", b"*", b"PURGE", b"QUERY"])
        target = fill(template, "fuzz-no-such-id")
        if method == b"CONNECT":
            target = "127.0.0.1:22"
        return [Case("methods", method, target, b"{}", [("Content-Type", "application/json")], half_close=True)]

    def keep_alive(self):
        rng = self.rng
        cases = []
        for _ in range(rng.randint(3, 5)):
            pick = rng.random()
            if pick < 0.3:
                c = Case("keep_alive", "GET", rng.choice(["/health", "/api/avatars", "/api/models", "/metrics"]), expect_reject=False)
            elif pick < 0.6:
                c = Case("keep_alive", "GET", "/api/jobs/" + quote_bytes(rng.choice(TRICK_IDS[:20])))
            else:
                body = dumps(guarded(rng, {"text": "hi", "language": LANGUAGE}))
                c = Case("keep_alive", "POST", rng.choice(GEN_PATHS), body, [("Content-Type", "application/json")])
            c.connection = b"keep-alive"
            cases.append(c)
        return [cases]  # a list inside the list: one connection

    def plausible(self):
        rng = self.rng
        if self.valid_budget <= 0:
            return self.unknown_values()
        self.valid_budget -= 1
        text = rng.choice(["hi", "hello", "yes", "good day", "thank you"])
        body = {"text": text, "language": LANGUAGE}
        path = rng.choice(["/api/jobs", "/api/jobs", "/api/jobs", "/api/generate", "/api/generate_parallel"])
        if path == "/api/jobs" and rng.random() < 0.5:
            body["mode"] = "parallel"
            body["chunks"] = rng.randint(1, 3)
        if path == "/api/generate_parallel":
            body["chunks"] = rng.randint(1, 3)
        return [Case("plausible", "POST", path, dumps(body, rng),
                     [("Content-Type", "application/json"), ("Accept", "application/json")],
                     expect_reject=False)]

    def known_job(self):
        if not self.job_ids:
            return self.path_tricks()
        ident = self.rng.choice(self.job_ids)
        return [Case("plausible", "GET", "/api/jobs/" + quote_bytes(ident), expect_reject=False)]

    def plan(self):
        rng = self.rng
        weights = [
            (self.json_random, 10), (self.wrong_types, 10), (self.numbers, 7), (self.deep_nesting, 5),
            (self.long_strings, 5), (self.unknown_values, 9), (self.text_edge, 7), (self.bad_utf8, 7),
            (self.nul_bytes, 4), (self.bad_headers, 12), (self.short_body, 4), (self.oversized, 1),
            (self.path_tricks, 10), (self.avatar_upload, 7), (self.methods, 3), (self.keep_alive, 2),
            (self.plausible, 1), (self.known_job, 1),
        ]
        funcs = [f for f, _ in weights]
        w = [n for _, n in weights]
        yield from self.sweep()
        while True:
            yield from rng.choices(funcs, weights=w)[0]()


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------

def rss_kb(pid):
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="e.g. http://127.0.0.1:3000")
    ap.add_argument("--count", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--language", default="en",
                    help="language of the well-formed requests (its default voice renders the accepted ones)")
    ap.add_argument("--pid", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="optional: stop sending after this long (requests < count then)")
    args = ap.parse_args()
    global LANGUAGE
    LANGUAGE = args.language

    url = urllib.parse.urlsplit(args.base)
    host = url.hostname or "127.0.0.1"
    port = url.port or 80
    hostport = f"{host}:{port}".encode() if ":" not in host else f"[{host}]:{port}".encode()

    rng = random.Random(args.seed)
    fuzzer = Fuzzer(rng, args)
    started = time.monotonic()
    warmup_at = max(1, args.count // 5)
    stats = {"done": 0, "by_status": {}, "by_category": {}, "server_errors": [],
             "unexpected_success": [], "rss_warm": None}

    def record(case, status, body):
        key = str(status)
        stats["by_status"][key] = stats["by_status"].get(key, 0) + 1
        cat = stats["by_category"].setdefault(case.cat, {})
        cat[key] = cat.get(key, 0) + 1
        method, path = case.describe()
        example = {"method": method, "path": path, "status": status,
                   "body_head": body[:200].decode("utf-8", "replace")}
        if status >= 500 and len(stats["server_errors"]) < 10:
            stats["server_errors"].append(example)
        if case.expect_reject and 200 <= status < 300 and len(stats["unexpected_success"]) < 10:
            example["category"] = case.cat
            stats["unexpected_success"].append(example)
        if case.cat == "plausible" and status == 202:
            try:
                ident = json.loads(body).get("id")
                if isinstance(ident, str) and len(fuzzer.job_ids) < 20:
                    fuzzer.job_ids.append(ident)
            except (ValueError, AttributeError):
                pass
        stats["done"] += 1
        if stats["done"] == warmup_at:
            stats["rss_warm"] = rss_kb(args.pid)

    def run_on(transport, case):
        """Send one case on transport (connecting if needed). Returns (status, body, reusable)."""
        deadline = time.monotonic() + (case.timeout or args.timeout)
        try:
            if transport.sock is None:
                transport.connect(deadline)
            transport.send(case.encode(hostport), deadline, NUDGE if case.half_close else None)
            status, _, body, reusable = transport.read_response(deadline, case.method == b"HEAD")
            return status, body, reusable
        except TimeoutError:
            return -1, b"", False
        except socket.timeout:
            return -1, b"", False
        except OSError:
            return 0, b"", False

    for item in fuzzer.plan():
        if stats["done"] >= args.count:
            break
        if args.max_seconds is not None and time.monotonic() - started > args.max_seconds:
            break
        group = item if isinstance(item, list) else [item]
        transport = Transport(host, port, args.timeout)
        try:
            for case in group:
                if stats["done"] >= args.count:
                    break
                status, body, reusable = run_on(transport, case)
                record(case, status, body)
                if not reusable:
                    transport.close()
        finally:
            transport.close()

    health = Transport(host, port, args.timeout)
    hcase = Case("health", "GET", "/health", expect_reject=False)
    health_deadline = time.monotonic() + args.timeout
    try:
        health.connect(health_deadline)
        health.send(hcase.encode(hostport), health_deadline, None)
        health_status = health.read_response(health_deadline, False)[0]
    except (TimeoutError, socket.timeout):
        health_status = -1
    except OSError:
        health_status = 0
    finally:
        health.close()

    by_status = dict(sorted(stats["by_status"].items(), key=lambda kv: int(kv[0])))
    result = {
        "requests": stats["done"],
        "by_status": by_status,
        "server_errors": stats["server_errors"],
        "no_answer": by_status.get("0", 0),
        "timeouts": by_status.get("-1", 0),
        "health_after": health_status,
        "rss_kb_after_warmup": stats["rss_warm"],
        "rss_kb_end": rss_kb(args.pid),
        "seconds": round(time.monotonic() - started, 3),
        "by_category": {k: dict(sorted(v.items(), key=lambda kv: int(kv[0]))) for k, v in sorted(stats["by_category"].items())},
        "unexpected_success": stats["unexpected_success"],
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
