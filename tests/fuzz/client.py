"""Sending generated requests, judging the answers, and keeping the tally.

Where it sits: the runner in ``test_fuzz_api.py`` sends every generated
:class:`FuzzRequest` with :func:`send`, byte for byte (the path and query exactly as
generated, no client-side normalisation), judges the answer with :func:`problem` (and
:func:`watch_problem`) and records it in a :class:`Tally`. The judgement is the
contract of the API server:

* never a 5xx (a user's mistake is never the server's error);
* every error (status >= 400) is a ``metav1.Status`` JSON body: ``kind: Status``,
  ``status: Failure``, an integer ``code`` equal to the HTTP status, a non-empty ``message``;
* a watch streams one JSON event per line, and an ``ERROR`` event carries such a Status;
* and there is an answer: a dropped connection is a failure too.

Failures are grouped by cause (for a 500, the exception and the server frame that raised
it, read from the API server's log) so that a bug hit a thousand times is reported once,
with one exact reproduction.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import shlex
import threading
import time

import pytest
import requests

SUMMARY = pytest.StashKey[list[str]]()  # the run's summary, printed by conftest's terminal hook
WATCH_TRUE = ("1", "t", "T", "true", "TRUE", "True")  # what the server takes for watch=true
TIMEOUT = (5, 30)  # connect, read: a watch lasts 1 s, anything else answers in well under a second


@dataclasses.dataclass
class FuzzRequest:
    method: str
    path: str  # percent-encoded, sent as is
    query: list[tuple[str, str | None]]  # percent-encoded pairs; a None value sends the bare key
    headers: dict[str, str | None]  # None removes a header requests would add
    body: bytes | None = None
    note: str = ""  # what the generator meant, e.g. "PUT mutated Deployment"

    @property
    def target(self) -> str:
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(k if v is None else f"{k}={v}" for k, v in self.query)

    @property
    def is_watch(self) -> bool:
        """As the server decides: a GET (or HEAD) whose first ``watch`` in the query is true."""
        first = next((v for k, v in self.query if k == "watch"), None)
        return self.method in ("GET", "HEAD") and first in WATCH_TRUE


@dataclasses.dataclass
class Outcome:
    status: int | None  # None: no response at all
    body: bytes
    content_type: str
    error: str = ""  # the client-side exception, when there was no response


def problem(req: FuzzRequest, out: Outcome) -> str:
    """What is wrong with this answer ("" if nothing)."""
    if out.status is None:
        return f"no response: {out.error}"
    if out.status >= 500:
        return f"{out.status} server error"
    if out.status < 400 or req.method == "HEAD":
        return ""  # success bodies are not this test's business; a HEAD answer has no body
    try:
        status = json.loads(out.body)
    except ValueError:
        return f"{out.status} with a body that is not JSON ({out.content_type or 'no Content-Type'})"
    if not isinstance(status, dict) or status.get("kind") != "Status":
        return f"{out.status} with a JSON body that is not a Status"
    code = status.get("code")
    if status.get("status") != "Failure":
        return f"{out.status} Status with status={status.get('status')!r}"
    if not isinstance(code, int) or isinstance(code, bool) or code != out.status:
        return f"{out.status} Status with code={code!r}"
    if not isinstance(status.get("message"), str) or not status["message"]:
        return f"{out.status} Status without a message"
    return ""


def watch_problem(body: bytes) -> str:
    """Judge a watch answered 200: every line JSON, and an ERROR event a Status that is not a 5xx."""
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            return f"watch event is not JSON: {line[:120]!r}"
        if not isinstance(event, dict) or event.get("type") != "ERROR":
            continue  # (a watch of one named object answers the object: not this test's business)
        obj = event.get("object")
        if not isinstance(obj, dict) or obj.get("kind") != "Status" \
                or not isinstance(obj.get("code"), int):
            return f"watch ERROR event without a Status: {line[:200]!r}"
        if obj["code"] >= 500:
            return f"watch ERROR event with code {obj['code']}: {obj.get('message')!r}"
    return ""


# -- grouping failures ----------------------------------------------------------------


@dataclasses.dataclass
class Failure:
    what: str
    req: FuzzRequest
    out: Outcome
    traceback: str = ""  # the API server's log lines for this request, if it logged any
    count: int = 1


def _frame(traceback: str) -> str:
    """The deepest frame of our own code: ``controlplane/api/x.py:41 in f``."""
    frames = re.findall(r'File "[^"]*/(controlplane/[^"]+)", line (\d+), in (\S+)', traceback)
    return f"{frames[-1][0]}:{frames[-1][1]} in {frames[-1][2]}" if frames else "?"


def raised_at(traceback: str) -> str:
    """``KeyError: 'name' at controlplane/api/x.py:41 in f``: the exception and where it came from."""
    return f"{traceback.strip().splitlines()[-1][:200]} at {_frame(traceback)}"


def _cause(f: Failure) -> str:
    """What tells one bug from another: the raising frame of a 500, else the blurred message."""
    if f.out.status is None:
        return f"{f.req.method} {f.out.error.split(':', 1)[0]}"
    if f.traceback:
        return f"{f.traceback.strip().splitlines()[-1].split(':', 1)[0]} at {_frame(f.traceback)}"
    try:
        message = json.loads(f.out.body).get("message", "")
    except (ValueError, AttributeError):
        message = f.out.body[:60].decode("utf-8", "replace")
    return re.sub(r'"[^"]*"|\d+', "_", str(message))[:100]


class ServerLog:
    """The API server's log, read from where the last look ended: the tracebacks of new 500s."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = self._size()
        self.lock = threading.Lock()  # watches are judged in other threads

    def _size(self) -> int:
        try:
            with open(self.path, "rb") as f:
                return f.seek(0, 2)
        except OSError:
            return 0

    def new_tracebacks(self) -> str:
        try:
            with self.lock, open(self.path, "rb") as f:
                f.seek(self.offset)
                text = f.read().decode("utf-8", "replace")
                self.offset = f.tell()
        except OSError:
            return ""
        start = text.rfind("unexpected error handling")
        if start < 0:
            start = text.rfind("Traceback (most recent call last)")
        if start < 0:
            return ""
        block = []
        for line in text[start:].splitlines():
            if block and re.match(r"^(\d{4}-\d\d-\d\d |\[\d{4}-)", line):
                break  # the next log record
            block.append(line)
        return "\n".join(block)


class Tally:
    """Counts of everything sent, and the failures grouped by cause. Thread-safe."""

    def __init__(self, trace: str = "") -> None:
        self.trace = trace  # a file to append every exchange to, one JSON line each
        self.lock = threading.Lock()
        self.sent = 0
        self.watches = 0
        self.by_status: collections.Counter[str] = collections.Counter()
        self.by_method: collections.Counter[str] = collections.Counter()
        self.groups: dict[tuple[str, ...], Failure] = {}
        self.started = time.monotonic()

    def record(self, req: FuzzRequest, out: Outcome, what: str, traceback: str = "") -> None:
        with self.lock:
            self.sent += 1
            self.watches += req.is_watch
            self.by_status[str(out.status) if out.status else "none"] += 1
            self.by_method[req.method] += 1
            if self.trace:
                with open(self.trace, "a") as f:
                    f.write(json.dumps({
                        "method": req.method, "target": req.target[:300], "note": req.note,
                        "headers": req.headers, "status": out.status,
                        "response": out.body[:300].decode("utf-8", "replace")}) + "\n")
            if not what:
                return
            failure = Failure(what, req, out, traceback)
            key = (what.split(" ", 1)[0], _cause(failure))
            if key in self.groups:
                self.groups[key].count += 1
            else:
                self.groups[key] = failure

    @property
    def failures(self) -> list[Failure]:
        return list(self.groups.values())

    def summary(self, seed: int) -> list[str]:
        elapsed = time.monotonic() - self.started
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        methods = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_method.items()))
        failed = sum(f.count for f in self.failures)
        return [(f"requests sent: {self.sent} ({self.watches} watches) in {elapsed:.1f} s, "
                 f"{self.sent / max(elapsed, 1e-9):.0f} requests/s, seed {seed}"),
                f"by status: {codes}", f"by method: {methods}",
                f"failures: {failed} in {len(self.failures)} distinct groups"]


# -- reproductions --------------------------------------------------------------------


def curl(req: FuzzRequest, server: str, ca: str, body_file: str = "") -> str:
    """A curl command line that sends this request (the token comes from ``$TOKEN``)."""
    cmd = ["curl", "-sS", "--path-as-is", "-g", "--cacert", ca]
    cmd += ["--head"] if req.method == "HEAD" else ["-X", req.method]
    for name, value in req.headers.items():
        cmd += ["-H", f"{name}:" if value is None else f"{name}: {value}"]  # "Name:" drops curl's own
    if req.body is not None:
        cmd += ["--data-binary", f"@{body_file}" if body_file else req.body.decode("latin-1")]
    cmd.append(server + req.target)
    token = "" if "Authorization" in req.headers else ' -H "Authorization: Bearer $TOKEN"'
    return " ".join(shlex.quote(c) for c in cmd[:2]) + token + " " + " ".join(shlex.quote(c) for c in cmd[2:])


def show_body(body: bytes | None, limit: int = 600) -> str:
    if body is None:
        return "(none)"
    text = body[:limit].decode("utf-8", "backslashreplace").replace("\n", "\\n")
    return f"{len(body)} bytes: {text}" + (" ..." if len(body) > limit else "")


def send(session: requests.Session, server: str, req: FuzzRequest, stream: bool = False) -> Outcome:
    """Send the request exactly as generated; a watch is read to its end (it lasts 1 s)."""
    prepared = session.prepare_request(
        requests.Request(req.method, server, headers=req.headers, data=req.body))
    prepared.url = server + req.target  # past requests' URL requoting: the bytes we generated
    try:
        resp = session.send(prepared, timeout=TIMEOUT, allow_redirects=False, stream=stream)
        body = resp.raw.read(decode_content=True) if stream else resp.content
        return Outcome(resp.status_code, body or b"", resp.headers.get("Content-Type", ""))
    except requests.RequestException as e:
        return Outcome(None, b"", "", f"{type(e).__name__}: {e}"[:300])
