import json

from conftest import EXAMPLES
from fer.__main__ import main


def test_json_one_object_per_input_and_errors_do_not_stop_the_batch(capsys, tmp_path, grace_hopper):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"garbage")
    code = main([str(grace_hopper), str(bad), str(EXAMPLES / "two_faces.jpg"), "--json", "--out", str(tmp_path / "out")])
    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["path"] for r in records] == [str(grace_hopper), str(bad), str(EXAMPLES / "two_faces.jpg")]
    assert records[0]["error"] is None and len(records[0]["faces"]) == 1
    face = records[0]["faces"][0]
    assert set(face) == {"box", "score", "label", "scores"} and len(face["box"]) == 4 and len(face["scores"]) == 7
    assert records[1]["error"] and records[1]["faces"] == []
    assert len(records[2]["faces"]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grace_hopper_fer.png", "two_faces_fer.png"]


def test_exit_code_is_non_zero_only_when_every_input_failed(capsys, tmp_path):
    assert main([str(tmp_path / "missing.jpg"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["error"].startswith("no such file")


def test_table_output(capsys, grace_hopper):
    assert main([str(grace_hopper), str(EXAMPLES / "no_face_coffee.jpg")]) == 0
    out = capsys.readouterr().out
    assert "grace_hopper.jpg: 1 face(s)" in out and "no_face_coffee.jpg: 0 face(s)" in out
