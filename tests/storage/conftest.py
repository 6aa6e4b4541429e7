"""Backends under test. Every backend must pass the whole conformance suite.

A backend is described by a factory that opens a store, and by the command line
that opens a second handle on the *same* data in another process (for the tests of
watches that must see writes made elsewhere).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator

import pytest

from controlplane.storage import SQLiteStore, Storage


@dataclasses.dataclass
class Backend:
    name: str
    open: Callable[[], Storage]
    url: str  # what another process passes to controlplane.storage.open_store


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = str(tmp_path / "store.db")
        yield Backend("sqlite", lambda: SQLiteStore(path), f"sqlite://{path}")


@pytest.fixture
def store(backend: Backend) -> Iterator[Storage]:
    s = backend.open()
    yield s
    s.close()


PYTHON = sys.executable
