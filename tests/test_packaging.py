"""Desktop integration files: one app id everywhere, and both validators accept them."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from support import REPO

from console import APP_ID

PKG = REPO / "packaging"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: scripts/setup installs it")
    return path


def test_desktop_entry_validates() -> None:
    desktop = PKG / f"{APP_ID}.desktop"
    out = subprocess.run([_tool("desktop-file-validate"), str(desktop)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    entries = dict(line.split("=", 1) for line in desktop.read_text().splitlines()
                   if "=" in line)
    assert entries["Icon"] == APP_ID and entries["StartupWMClass"] == APP_ID
    assert entries["Exec"].split()[0] == "coach-console"


def test_metainfo_validates() -> None:
    meta = PKG / f"{APP_ID}.metainfo.xml"
    out = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", str(meta)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    root = ET.parse(meta).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"  # type: ignore[union-attr]
    assert len(root.findall("screenshots/screenshot")) >= 1
    assert root.find("releases/release").get("version")  # type: ignore[union-attr]


def test_icons_exist_in_every_size() -> None:
    assert (PKG / "icons" / f"{APP_ID}.svg").read_text().startswith("<svg")
    for size in (128, 256):
        png = (PKG / "icons" / f"{APP_ID}-{size}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (width, height) == (size, size)


def test_self_test_passes_here() -> None:
    import sys

    out = subprocess.run([sys.executable, "-m", "console", "self-test"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[ok  ] engine" in out.stdout and "self-test passed" in out.stdout
    # Every codec it names was run: L16 and AMR-WB included, not only listed.
    codecs = next(line for line in out.stdout.splitlines() if line.startswith("[ok  ] codecs"))
    for evidence in ("PCMU round trip", "PCMA round trip", "L16 big/little exact",
                     "G722 round trip 1000 Hz", "OPUS round trip 1000 Hz",
                     "AMR-WB 20 real frames, both payload layouts, 1000 Hz"):
        assert evidence in codecs, codecs
    assert "[ok  ] voice activity webrtc found" in out.stdout
    assert "silero found" in out.stdout
