"""Typed results: pointing at a face, and the analysis written out as JSON and CSV."""

import csv
import json

from fer.results import FaceResult, ImageResult

SCORES = {"angry": 0.05, "disgust": 0.05, "fear": 0.05, "happy": 0.6, "sad": 0.05, "surprise": 0.1, "neutral": 0.1}
LARGE = FaceResult(box=(0, 0, 200, 200), score=0.91234, label="happy", scores=SCORES)
SMALL = FaceResult(box=(150, 150, 190, 190), score=0.8, label="surprise", scores={**SCORES, "happy": 0.1, "surprise": 0.6},
                   uncertain=True)
RESULT = ImageResult([LARGE, SMALL], (640, 480))


def test_face_at_picks_the_smallest_box_under_the_point():
    assert RESULT.face_at(10, 10) == 0
    assert RESULT.face_at(160, 170) == 1  # inside both boxes: the small face in front
    assert RESULT.face_at(500, 400) is None and ImageResult().face_at(0, 0) is None


def test_json_is_the_api_answer_plus_the_image_size_and_model(tmp_path):
    written = json.loads(RESULT.write_json(tmp_path / "a.json", model={"name": "Fast"}).read_text())
    assert written == {"model": {"name": "Fast"}, "image": {"width": 640, "height": 480}, **RESULT.to_dict()}
    assert "model" not in json.loads(ImageResult().write_json(tmp_path / "b.json").read_text())


def test_csv_has_one_row_per_face_as_numbered(tmp_path):
    with open(RESULT.write_csv(tmp_path / "a.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["face"] for r in rows] == ["1", "2"] and rows[1]["label"] == "surprise"
    assert [rows[0][k] for k in ("x0", "y0", "x1", "y1", "score")] == ["0", "0", "200", "200", "0.9123"]
    assert {k: float(rows[1][k]) for k in SCORES} == SMALL.to_dict()["scores"]
    assert [r["uncertain"] for r in rows] == ["False", "True"]
    assert list(rows[0])[-1] == "uncertain"  # added last: the columns readers knew keep their places
    with open(ImageResult().write_csv(tmp_path / "none.csv")) as f:
        assert f.read().strip() == "face,x0,y0,x1,y1,score,label,uncertain"


def test_uncertain_is_in_the_api_answer_beside_the_fields_it_had():
    assert [f["uncertain"] for f in RESULT.to_dict()["faces"]] == [False, True]
    assert set(LARGE.to_dict()) == {"box", "score", "label", "scores", "uncertain"}
