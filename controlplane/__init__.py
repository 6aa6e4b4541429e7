"""kubeclass control plane: the API server, its storage, and (later) the controllers and scheduler.

The Kubernetes version the API server speaks, reported by ``/version``.
"""

KUBERNETES_VERSION = "v1.33.0"
KUBECLASS_VERSION = "0.1.0"
GIT_VERSION = f"{KUBERNETES_VERSION}+kubeclass"
