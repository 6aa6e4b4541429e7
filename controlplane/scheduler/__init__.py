"""The scheduler: which node runs each new pod, and why (kube-scheduler, in small).

Where it sits: box [4] of data flow (A) in ARCHITECTURE.md, beside the controllers.
It reaches the cluster only through :mod:`controlplane.client` (never
``controlplane.api`` or ``controlplane.storage``), and its only writes are Bindings,
Events and the pods' ``PodScheduled`` condition. Read it in the order a pod
travels through it:

* :mod:`.queue` - pending pods wait here: active, backing off, or parked as
  unschedulable until the cluster changes;
* :mod:`.cache`, :mod:`.nodeinfo` - every node and the pods on it, including pods
  just placed but not yet confirmed ("assumed");
* :mod:`.scheduler` - :meth:`~.scheduler.Scheduler.schedule_one`: Filter, Score, Bind;
* :mod:`.framework` - the plugin interfaces, ``Status``, how scores add up, and the
  "0/3 nodes are available: ..." message;
* :mod:`.plugins` - one file per plugin, the registry, the default profile;
* :mod:`.preemption` - whether evicting pods could have helped (the message only);
* :mod:`.resources`, :mod:`.matching` - quantities, requests, taints, selectors;
* :mod:`.__main__` - the process (flags, leader election, signals);
* :mod:`.bench` - how many pods per second it places through a real API server;
* :mod:`.testing` - object builders and a fake API for the tests.
"""
