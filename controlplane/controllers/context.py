"""What every controller is built from: the client, the shared caches, the timing profile.

Where it sits: the controller manager makes one Context and passes it to each
controller module's ``make(ctx)`` factory, so that controllers share one informer per
resource and one discovery cache, as kube-controller-manager's controllers share
client-go's SharedInformerFactory.
"""

from __future__ import annotations

from ..client import informer as informers
from ..client.discovery import CachedDiscovery
from ..client.rest import Client
from ..profiles import CLASSROOM, Profile

DISCOVERY_PERIOD = 30.0  # seconds between discoveries of served resources


class Context:
    def __init__(self, client: Client, workers: int, discovery_period: float = DISCOVERY_PERIOD,
                 profile: Profile = CLASSROOM) -> None:
        self.client = client
        self.workers = workers
        self.discovery_period = discovery_period
        self.profile = profile
        self.informers = informers.InformerFactory(client)
        self.discovery = CachedDiscovery(client)
