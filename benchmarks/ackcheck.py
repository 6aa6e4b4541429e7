"""The acknowledged-writes checker: a write a client was told succeeded is never lost.

Where it sits: ``benchmarks.ha`` runs it while it SIGKILLs the etcd leader and prints
what it found; the live HA test (``tests/integration/test_etcd_ha_live.py``) asserts it.
It talks to the cluster only through its API endpoint, as any client would.

Several writers, each on a thread and a connection of its own, loop over two writes:

    create     ConfigMap ``ack-<writer>-<n>`` whose data names its writer and number
    increment  the one shared ``ack-counter`` ConfigMap: GET it, PUT count+1 with the
               resourceVersion it read (compare-and-swap: a 409 means another writer won)

Each answer goes into a :class:`Ledger`, sorted by what the client learnt from it:

    acknowledged  2xx: the client was told the write is stored
    refused       the write was certainly not made: a 409, or a 503 that does not say
                  "may or may not have been applied"
    unknown       no answer (a timeout, a broken connection), or that 503: either way

Afterwards :func:`check` reads everything back and compares (a :class:`Verdict`):

    lost       acknowledged creates missing, or stored with other data
    phantoms   refused creates that are stored anyway
    counter    the final count must lie between the acknowledged increments and those
               plus the unknown ones; no two writers may have been told they wrote the
               same count (that would be an update lost by compare-and-swap)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

COUNTER = "ack-counter"
UNKNOWN_MARK = "may or may not have been applied"


@dataclasses.dataclass
class Write:
    kind: str  # "create" or "increment"
    writer: int
    name: str
    outcome: str  # acknowledged, refused, unknown
    sent: float  # time.monotonic() when sent
    answered: float
    value: int | None = None  # an increment: the count it was told it wrote
    why: str = ""


@dataclasses.dataclass
class Ledger:
    writes: list[Write] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add(self, write: Write) -> None:
        with self.lock:
            self.writes.append(write)

    def of(self, kind: str, outcome: str) -> list[Write]:
        return [w for w in self.writes if w.kind == kind and w.outcome == outcome]

    def count(self, outcome: str) -> int:
        return sum(w.outcome == outcome for w in self.writes)

    def longest_gap(self, after: float) -> float:
        """The longest time, from ``after`` on, without an acknowledged write answered."""
        times = sorted(w.answered for w in self.writes if w.outcome == "acknowledged" and w.answered >= after)
        edges = [after, *times]
        return max((b - a for a, b in zip(edges, edges[1:])), default=0.0)


@dataclasses.dataclass
class Verdict:
    acknowledged: int
    refused: int
    unknown: int
    lost: list[str]
    phantoms: list[str]
    counter: int
    counter_range: tuple[int, int]
    duplicate_counts: list[int]

    @property
    def ok(self) -> bool:
        low, high = self.counter_range
        return not self.lost and not self.phantoms and not self.duplicate_counts and low <= self.counter <= high

    def summary(self) -> str:
        low, high = self.counter_range
        return (f"{self.acknowledged} writes acknowledged, {self.refused} refused, {self.unknown} of unknown outcome; "
                f"lost {len(self.lost)}, refused yet stored {len(self.phantoms)}; counter {self.counter} "
                f"(acknowledged {low}, at most {high}), counts told twice {len(self.duplicate_counts)}")


class Client:
    """One writer's connection: the cluster admin over HTTPS, answers classified."""

    def __init__(self, server: str, cert: tuple[str, str], ca: str, ns: str) -> None:
        self.base = f"{server}/api/v1/namespaces/{ns}/configmaps"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.cert, self.session.verify = cert, ca

    def send(self, method: str, path: str = "", body: Any = None) -> tuple[str, requests.Response | None, str]:
        """(outcome, response, why) of one request."""
        try:
            r = self.session.request(method, self.base + path, json=body, timeout=(2, 30))
        except requests.RequestException as e:
            return "unknown", None, type(e).__name__
        if r.status_code < 300:
            return "acknowledged", r, ""
        try:
            message = str(r.json().get("message"))  # a metav1.Status
        except ValueError:
            message = r.text[:300]
        if r.status_code in (409, 422) or (r.status_code == 503 and UNKNOWN_MARK not in message):
            return "refused", r, f"{r.status_code}: {message}"
        return "unknown", r, f"{r.status_code}: {message}"


def configmap(name: str, data: dict[str, str], resource_version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def writer(client: Client, index: int, ledger: Ledger, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        name = f"ack-{index}-{n}"
        sent = time.monotonic()
        outcome, _, why = client.send("POST", body=configmap(name, {"writer": str(index), "n": str(n)}))
        ledger.add(Write("create", index, name, outcome, sent, time.monotonic(), why=why))
        increment(client, index, ledger)
        if outcome != "acknowledged":
            time.sleep(0.05)  # no hot loop against a store that is electing


def increment(client: Client, index: int, ledger: Ledger) -> None:
    outcome, r, why = client.send("GET", f"/{COUNTER}")
    if outcome != "acknowledged" or r is None:
        return  # nothing was written: not a write
    current = r.json()
    value = int(current["data"]["count"]) + 1
    sent = time.monotonic()
    outcome, r, why = client.send("PUT", f"/{COUNTER}", configmap(
        COUNTER, {"count": str(value)}, current["metadata"]["resourceVersion"]))
    ledger.add(Write("increment", index, COUNTER, outcome, sent, time.monotonic(), value, why))


def run(server: str, cert: tuple[str, str], ca: str, ns: str, *, writers: int, seconds: float,
        disrupt: Callable[[], None], disrupt_after: float) -> tuple[Ledger, float]:
    """Write from ``writers`` threads for ``seconds``; call ``disrupt`` after ``disrupt_after``
    seconds. Returns the ledger and when (time.monotonic()) the disruption began."""
    setup = Client(server, cert, ca, ns)
    outcome, _, why = setup.send("POST", body=configmap(COUNTER, {"count": "0"}))
    if outcome != "acknowledged":
        raise RuntimeError(f"could not create the counter: {why}")
    ledger, stop = Ledger(), threading.Event()
    threads = [threading.Thread(target=writer, args=(Client(server, cert, ca, ns), i, ledger, stop), daemon=True)
               for i in range(1, writers + 1)]
    for t in threads:
        t.start()
    time.sleep(disrupt_after)
    disrupted = time.monotonic()
    try:
        disrupt()
        time.sleep(max(0.0, seconds - (time.monotonic() - disrupted) - disrupt_after))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    return ledger, disrupted


def check(ledger: Ledger, server: str, cert: tuple[str, str], ca: str, ns: str, timeout: float = 60) -> Verdict:
    """Read back what is stored (waiting up to ``timeout`` for the API) and compare."""
    client = Client(server, cert, ca, ns)
    deadline = time.monotonic() + timeout
    while True:
        outcome, r, why = client.send("GET")
        if outcome == "acknowledged" and r is not None:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cluster did not answer a list within {timeout:.0f}s: {why}")
        time.sleep(0.5)
    stored = {cm["metadata"]["name"]: cm.get("data") or {} for cm in r.json()["items"]}
    lost, phantoms = [], []
    for w in ledger.of("create", "acknowledged"):
        writer_index, n = w.name.split("-")[1:]
        if stored.get(w.name) != {"writer": writer_index, "n": n}:
            lost.append(w.name)
    phantoms = [w.name for w in ledger.of("create", "refused") if w.name in stored]
    told = [w.value for w in ledger.of("increment", "acknowledged") if w.value is not None]
    duplicates = sorted({v for v in told if told.count(v) > 1})
    low = max([len(told), *told])  # at least every acknowledged increment, and the highest count told
    high = len(told) + len(ledger.of("increment", "unknown"))
    return Verdict(ledger.count("acknowledged"), ledger.count("refused"), ledger.count("unknown"), lost, phantoms,
                   int(stored.get(COUNTER, {}).get("count", -1)), (low, high), duplicates)
