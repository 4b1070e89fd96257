"""Reading the team's buckets: call summaries (`coach_calls`) and nodes' last heartbeats
(`coach_nodes`). Whatever is in them was written by some peer on the bus: entries of the
wrong shape are skipped, never trusted."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from console.team.subjects import NODES_BUCKET

__all__ = ["read_nodes", "read_summaries"]


async def read_summaries(kv: Any, team: str) -> list[dict[str, Any]]:
    """Every call summary of `team` in the calls bucket."""
    try:
        keys = await kv.keys()
    except Exception:  # NoKeysError: an empty bucket
        return []
    out = []
    prefix = f"{team}."
    for key in keys:
        if not key.startswith(prefix):
            continue
        with contextlib.suppress(Exception):
            entry = await kv.get(key)
            info = orjson.loads(entry.value)
            if _summary_ok(info):
                out.append(info)
    return out


def _summary_ok(info: Any) -> bool:
    """A summary as a node writes it (any peer holding the bus token can write the bucket,
    and `calls` formats, sorts and dates these fields)."""
    if not isinstance(info, dict) or not isinstance(info.get("id"), str) \
            or not isinstance(info.get("node", ""), str):
        return False
    if not all(isinstance(info.get(k), str | None)
               for k in ("state", "provider", "from", "to", "codec")):
        return False
    for key in ("started_at", "ended_at"):
        at = info.get(key)
        if at is not None and (type(at) not in (int, float) or not 0 <= at < 1e11):
            return False
    return isinstance(info.get("stream_ids", []), list)


async def read_nodes(js: Any) -> dict[str, dict[str, Any]]:
    try:
        kv = await js.key_value(NODES_BUCKET)
        keys = await kv.keys()
    except Exception:
        return {}
    out = {}
    for key in keys:
        with contextlib.suppress(Exception):
            info = orjson.loads((await kv.get(key)).value)
            if isinstance(info, dict):  # a peer may have written anything here
                out[key] = info
    return out
