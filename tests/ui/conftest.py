from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def console(qapp, settings) -> Iterator:  # type: ignore[no-untyped-def]
    from console.ui.app import Console
    from console.ui.theme import apply_theme

    apply_theme(qapp, "dark")
    c = Console(qapp, settings)
    c.window.ended_linger_ms = 150
    c.window.show()
    yield c
    c.shutdown()
    c.window.close()
    c.window.deleteLater()


