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
