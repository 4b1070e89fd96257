"""Helpers shared by the tests (imported as `support`; conftest files only hold fixtures)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


FIXTURES = REPO / "tests" / "data" / "protocols" / "fixtures"


def fixtures_dir() -> Path:
    """The providers' example frames, kept in the repository (tests/data/protocols/README.md
    says where they came from) so that a clone alone passes its tests."""
    return FIXTURES


def load_fixture(platform: str, name: str) -> Any:
    """One example frame (or request) of `platform`, as JSON."""
    import json

    return json.loads((FIXTURES / platform / name).read_text())


def all_fixtures() -> list[Path]:
    """Every platform's example frames."""
    return sorted(FIXTURES.glob("*/*.json"))


def audit_rows(data_dir: str | Path, call_id: str | None = None) -> list[tuple[str, str]]:
    """The supervisor's audit trail in the store at `data_dir` as (action, detail), oldest
    first (by id); only `call_id`'s rows when given."""
    from console.store.db import connect, db_path

    conn = connect(db_path(data_dir), readonly=True)
    try:
        sql, args = "SELECT action, detail FROM audit", ()
        if call_id is not None:
            sql, args = sql + " WHERE call_id = ?", (call_id,)
        return [(r["action"], r["detail"]) for r in conn.execute(sql + " ORDER BY id", args)]
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def running_engine(settings) -> AsyncIterator:  # type: ignore[no-untyped-def]
    from console.engine import Engine

    engine = Engine(settings)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def phone_clips() -> tuple[list[str], list]:  # type: ignore[type-arg]
    """The real recorded speech in tests/data/phone-speech (8 kHz, as on a phone line):
    reference texts and 16 kHz float32 audio, as the speech workers take it."""
    import json

    import numpy as np

    from console.audio.codecs import resample
    from console.audio.wav import read_wav

    data = REPO / "tests" / "data" / "phone-speech"
    items = json.loads((data / "transcripts.json").read_text())
    audios = []
    for it in items:
        pcm, rate = read_wav(data / it["file"])
        assert rate == 8000  # phone band
        audios.append(resample(pcm[:, 0], 8000, 16000).astype(np.float32) / 32768)
    return [it["text"] for it in items], audios
