"""wait_for: wait until a TCP port accepts connections or an HTTP URL answers.

Data flow (B): executor ─▶ **wait_for module** ─▶ `python3 -` on the host ─▶ the service.
As in Ansible, the wait runs *on the target host*, so a service that listens only on
127.0.0.1 there can be awaited. The polling loop is the small script below, sent on
stdin; it exits 0 when ready and 1 with a message at the deadline. Waiting changes
nothing, so it always reports `ok`; in check mode it does not wait at all, because the
service it waits for was not really started.
"""

from __future__ import annotations

import json
import shlex

from provision.modules.base import Arg, ArgumentError, Module, Result

PROBE = r"""
import json, socket, ssl, sys, time, urllib.request
spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec["timeout"]
time.sleep(spec["delay"])
last = "never tried"
while True:
    try:
        if spec.get("url"):
            ctx = None if spec["validate_certs"] else ssl._create_unverified_context()
            with urllib.request.urlopen(spec["url"], timeout=2, context=ctx) as r:
                if r.status in spec["status_code"]:
                    sys.exit(0)
                last = f"HTTP {r.status}"
        else:
            socket.create_connection((spec["host"], spec["port"]), timeout=2).close()
            sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code in spec["status_code"]:
            sys.exit(0)
        last = f"HTTP {e.code}"
    except OSError as e:
        last = str(e)
    if time.monotonic() >= deadline:
        print(f"timed out after {spec['timeout']}s: {last}", file=sys.stderr)
        sys.exit(1)
    time.sleep(spec["sleep"])
"""


class WaitFor(Module):
    NAME = "wait_for"
    ARGS = {
        "host": Arg(default="127.0.0.1"),
        "port": Arg("int"),
        "url": Arg(),
        "timeout": Arg("float", default=300.0),
        "delay": Arg("float", default=0.0),
        "sleep": Arg("float", default=1.0),
        "status_code": Arg("list", default=["200"]),
        "validate_certs": Arg("bool", default=True),
    }

    def run(self) -> Result:
        a = self.args
        if (a["port"] is None) == (a["url"] is None):
            raise ArgumentError("wait_for: give exactly one of 'port' or 'url'")
        target = a["url"] or f"{a['host']}:{a['port']}"
        if self.check_mode:
            return Result(False, f"check mode: not waiting for {target}")
        spec = {**a, "status_code": [int(c) for c in a["status_code"]]}
        res = self.t.run(f"python3 - {shlex.quote(json.dumps(spec))}", input=PROBE)
        if not res.ok:
            reason = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"
            return Result(False, f"{target}: {reason}", failed=True)
        return Result(False, f"{target} is ready")
