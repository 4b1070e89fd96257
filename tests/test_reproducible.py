"""A clone of the project alone installs the same software everywhere and passes its tests:
every dependency is pinned with hashes, setup installs from the lock, and no test reads
anything outside the repository."""

from __future__ import annotations

import re
import tomllib

from support import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _locked(path: str) -> dict[str, list[str]]:
    """name -> the hashes of each pinned entry (a package may be pinned per Python)."""
    text = (REPO / path).read_text()
    found: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if m:
            found.setdefault(m.group(1).lower().replace("_", "-"), []).append(
                " ".join(re.findall(r"--hash=sha256:[0-9a-f]{64}", block)))
    return found


def test_every_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = runtime | {_name(r) for r in project["optional-dependencies"]["dev"]}
    for path, wanted in (("requirements.lock", runtime), ("requirements-dev.lock", dev)):
        locked = _locked(path)
        assert wanted <= set(locked), (path, wanted - set(locked))
        unhashed = [n for n, hashes in locked.items() if not all(hashes)]
        assert not unhashed, (path, unhashed)
    # The dev lock is the runtime lock plus tools: the same versions of what both carry.
    pins = re.compile(r"^([A-Za-z0-9_.\-]+==\S+(?: ; [^\\\n]+)?)", re.M)
    # (a package left out of the runtime lock may be a real dev tool: compare installed ones)
    runtime_pins = {p for p in pins.findall((REPO / "requirements.lock").read_text())
                    if "sys_platform == 'never'" not in p}
    dev_pins = set(pins.findall((REPO / "requirements-dev.lock").read_text()))
    assert runtime_pins <= dev_pins, runtime_pins - dev_pins


def test_setup_installs_from_the_lock_and_one_command_refreshes_it() -> None:
    setup = (REPO / "scripts" / "setup").read_text()
    assert "--require-hashes -r" in setup and "requirements-dev.lock" in setup
    assert "--no-deps -e ." in setup  # the project itself, nothing unpinned beside it
    lock = (REPO / "scripts" / "lock").read_text()
    assert "--generate-hashes" in lock and "--universal" in lock


def test_no_test_reads_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|shared_dir|/work/")
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py")
                 if p.name != "test_reproducible.py" and outside.search(p.read_text())]
    assert not offenders
    assert any((REPO / "tests" / "data" / "protocols" / "fixtures" / "telnyx").glob("*.json"))


def test_the_lock_leaves_pytorch_out() -> None:
    """A model package declares sentence-transformers for its own loader; the console runs
    the weights with NumPy, so PyTorch must never be installed (hundreds of MB)."""
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (REPO / name).read_text()
        for line in text.splitlines():
            if re.match(r"(torch|sentence-transformers)==", line):
                assert "sys_platform == 'never'" in line, line
