from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from team_support import end_started, start_bus

from console.team.busserver import BusServer


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[BusServer]:
    """A real nats-server with JetStream, token auth, on a free port."""
    server = start_bus(tmp_path / "bus")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    end_started()

