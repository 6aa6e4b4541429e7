"""The ``kubeclass`` command: ``up``, ``down`` and ``status`` of a local cluster.

(Provisioning, offline bundles and labs join it in later issues.) The client for the
cluster itself is the real ``kubectl``: kubeclass only writes its kubeconfig.
"""
