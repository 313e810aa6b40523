import hashlib
import re

from conftest import ROOT

ASSETS = ROOT / "fer" / "assets" / "face_detection"


def test_vendored_detector_models_match_their_recorded_sha256():
    recorded = dict(re.findall(r"\| `(face_detection_\w+\.tflite)` \| `([0-9a-f]{64})` \|", (ASSETS / "SOURCE.md").read_text()))
    assert set(recorded) == {"face_detection_short_range.tflite", "face_detection_full_range_sparse.tflite"}
    for name, sha in recorded.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == sha, name
    assert "Apache License" in (ASSETS / "LICENSE").read_text()
