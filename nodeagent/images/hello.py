"""kubeclass/hello:1 and kubeclass/hello:2 - the first program students run.

An HTTP server on $PORT (default 8080) that answers with its version and its pod's name,
so a rolling update from hello:1 to hello:2 shows in the answers. It binds the pod's
address ($POD_IP) when that is a loopback address (node agents without network
namespaces), otherwise every address of its network namespace.

    GET /          Hello from kubeclass/hello:1 on pod web-7d9c-abcde (10.244.1.5)
    GET /healthz   ok (or 500 once unhealthy: after $HEALTHZ_FAIL_AFTER seconds, or after /fail)
    GET /readyz    ok (503 for the first $READY_AFTER seconds, or after /unready)
    GET /fail      make /healthz fail from now on (for the liveness probe lab)
    GET /unready   make /readyz fail from now on; GET /ready undoes it (readiness probe lab)
    GET /version   1

It logs every request to stdout. On SIGTERM it goes on answering for
$SHUTDOWN_DELAY_SECONDS (default 5) before it stops: the pod's endpoint is being removed
from every node's service proxy meanwhile, so a rolling update loses no request (the
same reason upstream examples give their pods a ``preStop`` sleep).
"""

import argparse
import http.server
import os
import signal
import socket
import sys
import threading
import time

STARTED = time.monotonic()
state = {"unhealthy": False, "unready": False}


def bind_address() -> str:
    ip = os.environ.get("POD_IP", "")
    return os.environ.get("BIND_ADDRESS") or (ip if ip.startswith("127.") else "0.0.0.0")


def pod_name() -> str:
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


class Handler(http.server.BaseHTTPRequestHandler):
    version_tag = "1"
    server_version = "kubeclass-hello"

    def do_GET(self) -> None:  # the http.server API names it so
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            fail_after = float(os.environ.get("HEALTHZ_FAIL_AFTER") or "0")
            if state["unhealthy"] or (fail_after and time.monotonic() - STARTED > fail_after):
                return self.reply(500, "unhealthy\n")
            return self.reply(200, "ok\n")
        if path == "/readyz":
            if time.monotonic() - STARTED < float(os.environ.get("READY_AFTER") or "0"):
                return self.reply(503, "not ready yet\n")
            if state["unready"]:
                return self.reply(503, "not ready (after /unready)\n")
            return self.reply(200, "ok\n")
        if path in ("/unready", "/ready"):
            state["unready"] = path == "/unready"
            return self.reply(200, f"from now on /readyz answers {503 if state['unready'] else 200}\n")
        if path == "/fail":
            state["unhealthy"] = True
            return self.reply(200, "from now on /healthz fails\n")
        if path == "/version":
            return self.reply(200, self.version_tag + "\n")
        ip = os.environ.get("POD_IP", "unknown address")
        return self.reply(200, f"Hello from kubeclass/hello:{self.version_tag} on pod {pod_name()} ({ip})\n")

    def reply(self, code: int, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # http.server's signature
        print(f"{self.client_address[0]} - {format % args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="kubeclass/hello")
    parser.add_argument("--version", default="1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8080))
    args = parser.parse_args()
    Handler.version_tag = args.version
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer((bind_address(), args.port), Handler)
    server.daemon_threads = True

    delay = float(os.environ.get("SHUTDOWN_DELAY_SECONDS") or "5")

    def stop(signum: int, frame: object) -> None:
        print(f"received signal {signum}, answering for {delay:g}s more, then shutting down", flush=True)

        def later() -> None:
            time.sleep(delay)
            server.shutdown()
        threading.Thread(target=later, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"kubeclass/hello:{args.version} listening on {bind_address()}:{args.port} as pod {pod_name()}",
          flush=True)
    server.serve_forever()
    print("bye", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
