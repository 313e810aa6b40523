from __future__ import annotations

import os
from pathlib import Path

import matplotlib.cbook
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FER_SHARED_DATA", ROOT.parent / "shared" / "data"))
EXAMPLES = ROOT / "examples"

# Tests run offline on the bundled model unless a test points FER_MODEL elsewhere.
os.environ.setdefault("FER_MODEL", "bundled")


def shared(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with the reason when the data is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set FER_SHARED_DATA or place it at ../shared/data)")
    return path


@pytest.fixture(scope="session")
def grace_hopper() -> Path:
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="session")
def recognizer():
    from fer import EmotionRecognizer

    return EmotionRecognizer("bundled")
