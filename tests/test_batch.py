"""fer.batch: listing, chunking and track joining without Ray; then whole runs on local Ray (2 CPUs)
over a handful of generated files with a broken one among them, resuming, and the Parquet schema."""

import logging
import math
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="batch analysis needs requirements-batch.txt")
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from conftest import EXAMPLES, ROOT  # noqa: E402
from fer import batch  # noqa: E402
from fer.video import analyze_video  # noqa: E402
from videos import face_video, without_duration  # noqa: E402

MODEL = "bundled"


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Photos with one, two and no face, a broken "photo", a 3 s video, a file that is no media."""
    root = tmp_path_factory.mktemp("collection")
    (root / "sub").mkdir()
    shutil.copy(EXAMPLES / "grace_hopper.jpg", root / "grace_hopper.jpg")
    shutil.copy(EXAMPLES / "no_face_coffee.jpg", root / "no_face_coffee.jpg")
    shutil.copy(EXAMPLES / "two_faces.jpg", root / "sub" / "two_faces.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "notes.txt").write_text("not media: a folder walk skips it")
    face_video(root / "pan.mp4", frames=30, fps=10)
    return root


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


def test_import_fer_does_not_import_ray():
    code = "import sys, fer, fer.batch; fer.EmotionRecognizer; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_inputs_from_folders_globs_and_names(collection):
    found = batch.list_inputs([collection, str(collection / "*.mp4"), collection / "missing.png"])
    names = [p.removeprefix(str(collection.resolve()) + "/") for p in found]
    assert names == ["broken.jpg", "grace_hopper.jpg", "no_face_coffee.jpg", "pan.mp4", "sub/two_faces.jpg", "missing.png"]


def test_video_chunks_follow_every_and_bad_videos_become_error_units(collection, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    units = batch.plan_units([str(collection / "pan.mp4"), str(junk)], every=3, chunk_seconds=1)
    video = [(u["start"], u["stop"], u["chunk"], u["chunks"]) for u in units if u["kind"] == "video"]
    assert video == [(0, 12, 0, 3), (12, 24, 1, 3), (24, -1, 2, 3)]  # 10 frames rounded up to a multiple of 3
    assert units[-1]["kind"] == "error" and "junk.mp4" in units[-1]["error"]
    webcam = without_duration(face_video(tmp_path / "webcam.webm", frames=30, fps=10))  # no length known
    units = batch.plan_units([str(webcam)], every=3, chunk_seconds=1)
    assert [(u["kind"], u["start"], u["stop"]) for u in units] == [("video", 0, -1)]  # one chunk, read to the end


def test_chunked_video_matches_one_pass(recognizer, collection):
    """Seeking to each chunk's start and joining the tracks gives what fer.video gives in one pass."""
    path = str(collection / "pan.mp4")
    rows = [row for unit in batch.plan_units([path], every=2, chunk_seconds=0.7)
            for row in batch.analyse_unit(recognizer, unit, every=2)]
    assert {r["_chunks"] for r in rows} == {4}
    joined = batch.join_tracks(rows, every=2)
    single = analyze_video(recognizer, path, every=2).rows
    assert [r["frame"] for r in joined] == [r["frame"] for r in single] == list(range(0, 30, 2))
    assert [tuple(r[k] for k in batch.BOX) for r in joined] == [tuple(r[k] for k in batch.BOX) for r in single]
    assert {r["face"] for r in joined} == {1}


def _face(chunk, chunks, frame, face, box):
    return {"path": "v.mp4", "frame": frame, "face": face, **dict(zip(batch.BOX, box)), "_chunk": chunk,
            "_chunks": chunks, "_rows": 1}


def test_join_tracks_matches_boxes_across_boundaries():
    a, b, far = (0, 0, 10, 10), (50, 50, 60, 60), (100, 0, 110, 10)
    rows = [
        _face(0, 3, 0, 1, a), _face(0, 3, 0, 2, b), _face(0, 3, 9, 1, a), _face(0, 3, 9, 2, b),
        # chunk 1's tracker numbered them the other way round, and a third face comes in
        _face(1, 3, 10, 1, b), _face(1, 3, 10, 2, a), _face(1, 3, 12, 3, far),
        # the last chunk decoded nothing (frame count overestimated): not an error of the video
        {"path": "v.mp4", "frame": 20, "error": "no frame decoded", "_chunk": 2, "_chunks": 3, "_rows": 1},
    ]
    joined = batch.join_tracks(rows)
    assert [(r["frame"], r["face"], r["x0"]) for r in joined] == [(0, 1, 0), (0, 2, 50), (9, 1, 0), (9, 2, 50),
                                                                 (10, 1, 0), (10, 2, 50), (12, 3, 100)]
    assert all(not r.get("error") and "_chunk" not in r for r in joined)
    # a face that left long before the boundary does not continue a new one at the same place
    late = [_face(0, 2, 0, 1, a), _face(0, 2, 0, 2, far), _face(0, 2, 30, 2, far), _face(1, 2, 31, 1, a)]
    assert [r["face"] for r in batch.join_tracks(late)] == [1, 2, 2, 3]


def test_collection_resume_and_schema(ray_local, collection, tmp_path, capsys):
    out = tmp_path / "results.parquet"
    # a first run that only got through two photos ...
    # one part a run: no part on the clock (every 30 s by default), which a loaded machine would reach
    first = batch.analyze_collection([collection / "grace_hopper.jpg", collection / "no_face_coffee.jpg"], out,
                                     workers=2, model=MODEL, flush_seconds=math.inf)
    assert (first.processed, first.readable, first.errors) == (2, 2, 0)
    # ... then the whole folder: only the three files without results are analysed
    second = batch.analyze_collection([collection], out, workers=2, model=MODEL, every=2, chunk_seconds=1,
                                      flush_seconds=math.inf)
    assert (second.inputs, second.skipped, second.processed, second.errors) == (5, 2, 3, 1)
    assert second.frames == 1 + 15  # a photo and 15 video frames; the broken file has none

    table = pq.read_table(out)
    assert table.schema.equals(batch.SCHEMA)
    assert len(list(out.glob("part-*.parquet"))) == 2 and not list(out.glob(".*"))
    rows = {}
    for row in table.to_pylist():
        rows.setdefault(row["path"].rsplit("/", 1)[-1], []).append(row)
    assert sorted(rows) == ["broken.jpg", "grace_hopper.jpg", "no_face_coffee.jpg", "pan.mp4", "two_faces.jpg"]
    [broken] = rows["broken.jpg"]
    assert broken["error"] and broken["face"] is None and broken["label"] is None
    [coffee] = rows["no_face_coffee.jpg"]
    assert coffee["frame"] == 0 and coffee["face"] is None and coffee["error"] is None
    two = rows["two_faces.jpg"]
    assert [r["face"] for r in two] == [1, 2] and {r["frame"] for r in two} == {0}
    assert all(sum(r[k] for k in batch.EMOTIONS) == pytest.approx(1, abs=1e-4) for r in two)
    assert two[1]["label"] == max(batch.EMOTIONS, key=lambda k: two[1][k]) and 0 < two[1]["score"] <= 1
    video = rows["pan.mp4"]
    assert [r["frame"] for r in video] == list(range(0, 30, 2)) and {r["face"] for r in video} == {1}
    assert video[3]["time_s"] == pytest.approx(0.6)

    # a third run has nothing to do, and says so without starting any worker
    (out / ".part-interrupted.parquet.tmp").write_bytes(b"half a file")  # left by a killed run: ignored
    assert batch.main([str(collection), "--out", str(out)]) == 0
    assert "nothing to do: all 5 inputs" in capsys.readouterr().out


def test_interrupted_run_keeps_whole_inputs(ray_local, collection, tmp_path, monkeypatch):
    """Rows stream in; a run stopped part-way has written every input it finished, and only those."""
    photo, video = str((collection / "grace_hopper.jpg").resolve()), str((collection / "pan.mp4").resolve())

    class Stopped:
        def iter_batches(self, **_):
            yield pa.Table.from_pylist([{"path": photo, "frame": 0, "_chunk": 0, "_chunks": 1, "_rows": 1}],
                                       schema=batch.RAW_SCHEMA)
            yield pa.Table.from_pylist([{"path": video, "frame": 0, "_chunk": 0, "_chunks": 2, "_rows": 1}],
                                       schema=batch.RAW_SCHEMA)
            raise KeyboardInterrupt

    monkeypatch.setattr(batch, "raw_dataset", lambda *a, **k: Stopped())
    out = tmp_path / "results.parquet"
    with pytest.raises(KeyboardInterrupt):
        batch.analyze_collection([photo, video], out, workers=1)
    assert batch.done_inputs(out) == {photo}  # the video's second chunk never came: it is redone


def test_python_api_returns_a_dataset(ray_local, collection):
    ds = batch.analyze_collection([collection / "sub", collection / "pan.mp4"], every=3, chunk_seconds=1,
                                  workers=2, model=MODEL)
    rows = ds.take_all()
    assert list(ds.schema().names) == batch.SCHEMA.names
    video = sorted((r for r in rows if r["path"].endswith("pan.mp4")), key=lambda r: r["frame"])
    assert [r["frame"] for r in video] == list(range(0, 30, 3)) and {r["face"] for r in video} == {1}
    assert sorted(r["face"] for r in rows if r["path"].endswith("two_faces.jpg")) == [1, 2]


def test_exit_code_is_non_zero_only_when_nothing_could_be_read(ray_local, collection, tmp_path):
    (tmp_path / "empty").mkdir()
    assert batch.main([str(tmp_path / "empty"), "--out", str(tmp_path / "a.parquet")]) == 1
    assert batch.main([str(collection / "broken.jpg"), "--out", str(tmp_path / "b.parquet"), "--workers", "1"]) == 1
