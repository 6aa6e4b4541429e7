"""kubeclass/cpuburner - uses the CPU it is asked to, for the autoscaling (HPA) lab.

An HTTP server on $PORT (default 8080), like the php-apache example of the Kubernetes
HPA walkthrough:

    GET /                               burns $BURN_MS milliseconds of CPU (default 100), answers OK!
    GET /burn?millicores=500&seconds=60 burns 500 millicores steadily for 60 s (0 stops)
    GET /healthz                        ok

$MILLICORES (default 0) sets a steady burn from the start. One process uses at most one
CPU (1000 millicores): Python runs one thread at a time.
"""

import http.server
import os
import signal
import sys
import threading
import time
import urllib.parse

WINDOW = 0.1  # seconds: each window is busy for millicores/1000 of it, idle for the rest
steady = {"millicores": 0.0, "until": float("inf")}


def bind_address() -> str:
    ip = os.environ.get("POD_IP", "")
    return os.environ.get("BIND_ADDRESS") or (ip if ip.startswith("127.") else "0.0.0.0")


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x = (x * 31 + 7) % 1000003


def steady_burner() -> None:
    while True:
        share = min(1.0, steady["millicores"] / 1000) if time.monotonic() < steady["until"] else 0.0
        start = time.monotonic()
        if share > 0:
            burn(WINDOW * share)
        time.sleep(max(0.0, WINDOW - (time.monotonic() - start)))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the http.server API names it so
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/healthz":
            return self.reply("ok\n")
        if url.path == "/burn":
            steady["millicores"] = float(query.get("millicores", "0"))
            seconds = float(query.get("seconds", "0"))
            steady["until"] = time.monotonic() + seconds if seconds > 0 else float("inf")
            return self.reply(f"burning {steady['millicores']:g} millicores"
                              f"{f' for {seconds:g}s' if seconds > 0 else ''}\n")
        burn(float(os.environ.get("BURN_MS") or "100") / 1000)
        return self.reply("OK!")

    def reply(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # http.server's signature
        print(f"{self.client_address[0]} - {format % args}", flush=True)


def main() -> None:
    port = int(os.environ.get("PORT") or 8080)
    steady["millicores"] = float(os.environ.get("MILLICORES") or "0")
    threading.Thread(target=steady_burner, daemon=True).start()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer((bind_address(), port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda s, f: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"kubeclass/cpuburner listening on {bind_address()}:{port}, steady burn "
          f"{steady['millicores']:g} millicores", flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
