"""Fuzz tests: a real API server bombarded with generated requests (see ``test_fuzz_api.py``)."""
