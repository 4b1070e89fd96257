"""Where the shipped resources (demo calls, stylesheets, icons) live: the repo's resources/,
an installed copy, or the frozen bundle's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["resource_dir"]


def resource_dir() -> Path:
    candidates = []
    env = os.environ.get("COACH_CONSOLE_RESOURCES")
    if env:
        candidates.append(Path(env))
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    here = Path(__file__).resolve().parent
    candidates += [here.parent / "resources", here / "resources",
                   Path(sys.prefix) / "share" / "coach-console" / "resources"]
    for path in candidates:
        if (path / "calls").is_dir():
            return path
    raise FileNotFoundError(
        "Coach Console resources not found (looked in: "
        + ", ".join(str(p) for p in candidates) + "); set COACH_CONSOLE_RESOURCES")
