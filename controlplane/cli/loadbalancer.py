"""One API endpoint for kubectl that survives a master: haproxy in front of the API servers.

Where it sits: ``local.py`` starts it (as the process ``loadbalancer``, under the same
supervisor as every component) when haproxy is installed, and points the admin's
kubeconfig at it; controller managers, schedulers and node agents do not need it (they
fail over between the API servers themselves). It is the local twin of what a real HA
cluster puts in front of its masters (haproxy, often with keepalived for a floating IP).

haproxy passes TLS through untouched (``mode tcp``: client certificates still reach the
API servers) and checks each API server's ``/readyz`` over HTTPS every second. A server
that fails two checks in a row gets no new connections; one whose process is gone
already refuses connections, and ``option redispatch`` with ``retries`` sends such a
connection to another server at once, so kubectl sees no error at all unless it was in
the middle of a request to the master that died. When no API server is ready (etcd has
lost quorum), haproxy still passes requests to them, so that kubectl shows their 503
Status, which says what is wrong, rather than "EOF".
"""

from __future__ import annotations

import shutil

from jinja2 import Template

CONFIG = Template("""\
# Written by kubeclass up: the load-balanced API endpoint ({{ endpoint }}).
global
    maxconn 4000

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout check 2s
    retries 3
    option redispatch 1

frontend kube-apiserver
    bind {{ bind }}
    default_backend apiservers

backend apiservers
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    option allbackups
    default-server inter 1s fall 2 rise 1 check check-ssl verify required ca-file {{ ca }}
{%- for name, address in servers %}
    server {{ name }} {{ address }}
{%- endfor %}
    # When no API server is ready (the store has lost quorum), send requests to them anyway:
    # better their 503 Status, which says why, than a connection closed by haproxy.
{%- for name, address in servers %}
    server {{ name }}-unready {{ address }} backup no-check
{%- endfor %}
""")


def haproxy() -> str | None:
    """The haproxy binary, if it is installed (Debian's ``haproxy`` package)."""
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if shutil.which(p)), None)


def render(bind: str, servers: list[tuple[str, str]], ca: str) -> str:
    """haproxy.cfg for ``bind`` ("127.0.0.1:6443") over ``servers`` ([(name, "host:port")])."""
    return CONFIG.render(bind=bind, endpoint=f"https://{bind}", servers=servers, ca=ca) + "\n"  # haproxy wants it


def argv(binary: str, config: str) -> list[str]:
    """haproxy in the foreground (``-db``), so that its supervisor owns it."""
    return [binary, "-db", "-f", config]
