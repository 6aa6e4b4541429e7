"""Killing the API server (SIGKILL, mid-stream of writes) loses no acknowledged write,
and a restarted server resumes watches from the last revision a client saw."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.livecluster import free_port

pytestmark = pytest.mark.slow

TOKEN = "durability-token"
NS_PATH = "/api/v1/namespaces/default/configmaps"


class Server:
    """One API server process (gunicorn master + workers) on a given store file."""

    def __init__(self, store: str, port: int, tokens: str, log: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.argv = [sys.executable, "-m", "controlplane.api.server", "--store", f"sqlite://{store}",
                     "--bind", f"127.0.0.1:{port}", "--token-auth-file", tokens, "--workers", "2"]
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError(f"API server did not start; see {self.log}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the master and every worker, no goodbyes
            self.proc.wait(timeout=10)


def test_sigkill_loses_no_acknowledged_write_and_watches_resume(tmp_path):
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{TOKEN},admin,1,"system:masters"\n')
    server = Server(str(tmp_path / "store.db"), free_port(), str(tokens), str(tmp_path / "apiserver.log"))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    acked: list[str] = []
    seen_by_watch: dict[str, int] = {}
    watch_rv = {"value": "0"}
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            name = f"cm-{i:05d}"
            try:
                r = session.post(server.url + NS_PATH, json={"metadata": {"name": name}, "data": {"i": str(i)}},
                                 timeout=5)
            except requests.RequestException:
                return  # the server died under us: this write was never acknowledged
            if r.status_code == 201:
                acked.append(name)
            i += 1

    def watch(from_rv: str) -> None:
        try:
            with session.get(f"{server.url}{NS_PATH}?watch=true&resourceVersion={from_rv}", stream=True,
                             timeout=10) as r:
                for line in r.iter_lines():
                    event = json.loads(line)
                    seen_by_watch[event["object"]["metadata"]["name"]] = 1
                    watch_rv["value"] = event["object"]["metadata"]["resourceVersion"]
        except (requests.RequestException, ValueError):
            return  # the stream broke when the server was killed

    try:
        server.start()
        start_rv = session.get(server.url + NS_PATH).json()["metadata"]["resourceVersion"]
        watcher = threading.Thread(target=watch, args=(start_rv,), daemon=True)
        writer = threading.Thread(target=write, daemon=True)
        watcher.start()
        writer.start()
        deadline = time.monotonic() + 60
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        stop.set()
        writer.join(timeout=10)
        watcher.join(timeout=10)
        assert len(acked) >= 300, "the writer should have been acknowledged at least 300 times"

        server.start()
        stored = {o["metadata"]["name"] for o in session.get(server.url + NS_PATH).json()["items"]}
        lost = [name for name in acked if name not in stored]
        assert lost == [], f"{len(lost)} acknowledged writes are missing after SIGKILL"

        # Resume the watch from the last revision it saw, exactly as a client does.
        last_rv = watch_rv["value"]
        assert int(last_rv) > int(start_rv), "the watch saw events before the kill"
        before = set(seen_by_watch)
        resumed = threading.Thread(target=watch, args=(last_rv,), daemon=True)
        resumed.start()
        session.post(server.url + NS_PATH, json={"metadata": {"name": "after-restart"}})
        deadline = time.monotonic() + 20
        while "after-restart" not in seen_by_watch and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "after-restart" in seen_by_watch, "a resumed watch delivers new writes"
        missed = [name for name in acked if name not in seen_by_watch]
        assert missed == [], f"the resumed watch never delivered {len(missed)} acknowledged writes"
        assert set(seen_by_watch) - before - set(acked) <= {"after-restart"} | stored
    finally:
        stop.set()
        server.kill()
