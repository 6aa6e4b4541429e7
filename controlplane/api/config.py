"""Settings of one API server process.

Where it sits: built by ``server.py`` from the command line (or by tests directly)
and passed to :func:`controlplane.api.app.create_app`.
"""

from __future__ import annotations

import dataclasses

from .auth import User


@dataclasses.dataclass
class APIConfig:
    tokens: dict[str, User] = dataclasses.field(default_factory=dict)
    # How often an idle watch that allows bookmarks gets one.
    bookmark_interval: float = 10.0
    # Create the default namespaces and the `kubernetes` Service at start.
    bootstrap: bool = True
    advertise_host: str = "127.0.0.1"
    advertise_port: int = 6443
    # History kept for watches and consistent lists: older revisions answer 410 Gone.
    compaction_interval: float = 300.0
    compaction_keep: int = 10_000
    # How the API server reaches node agents (logs, exec, metrics): its client certificate,
    # the CA that signed the agents' certificates, and how long to wait for one to answer.
    kubelet_client_certificate: str = ""
    kubelet_client_key: str = ""
    kubelet_certificate_authority: str = ""
    kubelet_timeout: float = 5.0
    # kubectl top waits for every node's summary at once, for at most this long each.
    metrics_timeout: float = 2.0
