"""The container test's figures, printed as its last line (tests/containers/conftest.py)."""

from __future__ import annotations

# Filled in by the tests as they run: build time, sizes, start-up, a photo's time, the kill.
FIGURES: dict[str, str] = {}
ORDER = ("build", "sizes", "up", "photo", "kill", "left")


def line(passed: int, failed: int, skipped: int, seconds: float) -> str:
    figures = "; ".join(FIGURES[key] for key in ORDER if key in FIGURES)
    verdict = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    return f"container test: {verdict} in {seconds:.0f} s" + (f"; {figures}" if figures else "")
