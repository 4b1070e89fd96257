"""Helpers shared by the tests (imported as `support`; conftest files only hold fixtures)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The project's shared/ folder (protocol docs and fixtures) beside the checkout."""
    for parent in [REPO, *REPO.parents]:
        candidate = parent / "shared" / "protocols" / "fixtures"
        if candidate.is_dir():
            return candidate.parent.parent
    raise FileNotFoundError("shared/protocols/fixtures not found beside the repository")


@contextlib.asynccontextmanager
async def running_engine(settings) -> AsyncIterator:  # type: ignore[no-untyped-def]
    from console.engine import Engine

    engine = Engine(settings)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
