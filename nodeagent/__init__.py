"""kubeclass node agent (a kubelet): registers its Node, runs the pods bound to it as
supervised processes, probes them, reports their status, and serves their logs, exec and
usage to the API server.

Where it sits: data flow (A) of ``ARCHITECTURE.md``, one agent per node. It talks to the
cluster only through ``controlplane.client`` (import-linter forbids ``controlplane.api``
and ``controlplane.storage``); ``docs/workloads.md`` is the contract it implements.
Read it in this order:

* :mod:`.cli`, :mod:`.config`, :mod:`.daemon` - flags, settings, the initialize/step/shutdown loop;
* :mod:`.agent` - the wiring: network, cgroups, runtime, informers, workers, endpoint;
* :mod:`.nodestatus`, :mod:`.lease` - the Node object and its heartbeat;
* :mod:`.podworkers`, :mod:`.sync` - one thread per pod, kubelet's SyncPod;
* :mod:`.containers`, :mod:`.envvars`, :mod:`.downward`, :mod:`.images` - from a container
  spec to a command line and environment;
* :mod:`.volumes`, :mod:`.atomicwriter` - emptyDir, configMap, secret, downwardAPI, projected, hostPath;
* :mod:`.runtime`, :mod:`.process`, :mod:`.sandbox`, :mod:`.network`, :mod:`.cgroups` - the
  process runtime (CRI-shaped): network namespaces, cgroups, a root directory per container;
* :mod:`.backoff`, :mod:`.probes`, :mod:`.podstatus`, :mod:`.events` - CrashLoopBackOff,
  probes, the status kubelet writes, events;
* :mod:`.logs`, :mod:`.server`, :mod:`.execws`, :mod:`.stats` - the HTTPS endpoint on :10250;
* :mod:`.simulated` - kwok-like nodes that run nothing;
* :mod:`.proxy`, :mod:`.proxy_rules`, :mod:`.proxy_relay`, :mod:`.proxy_userspace` - the
  service proxy (ClusterIP and NodePort to ready endpoints, like kube-proxy's userspace mode);
* ``images/`` - the programs behind ``kubeclass/hello:1``, ``:2``, ``crashloop``, ``cpuburner``, ``echo``.
"""
