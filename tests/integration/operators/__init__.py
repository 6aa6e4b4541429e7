"""Operators that users write with kopf, run for real against a kubeclass cluster by the integration tests."""
