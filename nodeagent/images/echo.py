"""kubeclass/echo - answers with what it was sent, to see where a request went.

* HTTP on $PORT (default 8080): replies with the pod's name, the method, path, headers
  and body of the request (handy behind a Service: every answer says which pod served it);
* TCP on $ECHO_TCP_PORT (default 9000): sends every line back, prefixed with the pod name
  (try `nc <pod ip> 9000`).

Each request and connection is logged to stdout.
"""

import http.server
import os
import signal
import socket
import socketserver
import sys
import threading


def bind_address() -> str:
    ip = os.environ.get("POD_IP", "")
    return os.environ.get("BIND_ADDRESS") or (ip if ip.startswith("127.") else "0.0.0.0")


def pod_name() -> str:
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


class HTTPHandler(http.server.BaseHTTPRequestHandler):
    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        lines = [f"pod: {pod_name()}", f"request: {self.command} {self.path} {self.request_version}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        text = ("\n".join(lines) + "\n\n").encode() + body
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _echo

    def log_message(self, format: str, *args: object) -> None:  # http.server's signature
        print(f"http {self.client_address[0]} - {format % args}", flush=True)


class LineHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        print(f"tcp connection from {self.client_address[0]}", flush=True)
        for line in self.rfile:
            self.wfile.write(f"{pod_name()}: ".encode() + line)


def main() -> None:
    port = int(os.environ.get("PORT") or 8080)
    tcp_port = int(os.environ.get("ECHO_TCP_PORT") or 9000)
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    lines = socketserver.ThreadingTCPServer((bind_address(), tcp_port), LineHandler)
    lines.daemon_threads = True
    threading.Thread(target=lines.serve_forever, daemon=True).start()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer((bind_address(), port), HTTPHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda s, f: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"kubeclass/echo: HTTP on {bind_address()}:{port}, TCP lines on {bind_address()}:{tcp_port}",
          flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
