"""fer.batch: listing, chunking and track joining without Ray; then whole runs on local Ray (2 CPUs)
over a handful of generated files with a broken one among them, resuming, and the Parquet schema."""

import logging
import math
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray", reason="batch analysis needs requirements-batch.txt")
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from conftest import EXAMPLES, ROOT  # noqa: E402
from fer import batch  # noqa: E402
from fer.batch.provenance import ModelChoice, choose_model, record_settings, run_settings  # noqa: E402
from fer.video import analyze_video  # noqa: E402
from videos import face_video, variable_timing, without_duration  # noqa: E402

MODEL = "bundled"


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Photos with one, two and no face, a broken "photo", a 3 s video, files that are no media."""
    root = tmp_path_factory.mktemp("collection")
    (root / "sub").mkdir()
    shutil.copy(EXAMPLES / "grace_hopper.jpg", root / "grace_hopper.jpg")
    shutil.copy(EXAMPLES / "no_face_coffee.jpg", root / "no_face_coffee.jpg")
    shutil.copy(EXAMPLES / "two_faces.jpg", root / "sub" / "two_faces.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "notes.txt").write_text("not media: a folder walk skips it")
    (root / "consent.pdf").write_bytes(b"%PDF-1.4")  # nor this: Pillow writes PDFs but cannot read them
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


def test_verbose_shows_the_workers_native_messages_too(monkeypatch):
    """``--verbose`` (quiet=False) puts FER_VERBOSE=1 in the workers' environment, where fer's native
    start-up messages are held back otherwise; quiet runs leave the workers' environment alone."""
    import ray

    from fer.batch.ray_pipeline import start_ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **options: calls.append(options))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert start_ray(num_cpus=1, quiet=False) and start_ray(num_cpus=1, quiet=True)
    assert calls[0]["runtime_env"] == {"env_vars": {"FER_VERBOSE": "1"}} and calls[0]["log_to_driver"]
    assert "runtime_env" not in calls[1] and not calls[1]["log_to_driver"]
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")  # inside `ray job submit`: its runtime env stands
    assert start_ray(num_cpus=1, quiet=False) and "runtime_env" not in calls[2]


def test_inputs_from_folders_globs_and_names(collection):
    found = batch.list_inputs([collection, str(collection / "*.mp4"), collection / "missing.png"])
    names = [p.removeprefix(str(collection) + "/") for p in found]
    assert names == ["broken.jpg", "grace_hopper.jpg", "no_face_coffee.jpg", "pan.mp4", "sub/two_faces.jpg", "missing.png"]
    assert not any(found.values())  # nothing known to be wrong before analysis
    typo = str(collection / "*.jgp")
    assert batch.list_inputs([typo]) == {typo: "no file matches this pattern"}  # was silently nothing


def test_a_file_name_that_is_not_utf8_gets_an_error_row(tmp_path):
    """Parquet strings are UTF-8: such a name (Linux allows any bytes) is an error row with its path
    escaped, not an exception that ends the run, again on every rerun."""
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    with open(name, "wb") as f:
        f.write(b"not read")
    escaped = str(tmp_path / "caf\\xe9.jpg")
    for listed in ([tmp_path], [os.fsdecode(name)], [str(tmp_path / "*.jpg")]):
        found = batch.list_inputs(listed)
        assert list(found) == [escaped] and "not UTF-8" in found[escaped]
    [unit] = batch.plan_units(list(found), errors=found)
    rows = batch.analyse_unit(None, unit)
    assert pa.Table.from_pylist(rows, schema=batch.RAW_SCHEMA).column("path").to_pylist() == [escaped]


def test_links_keep_their_names_and_what_cannot_be_listed_gets_an_error_row(tmp_path, monkeypatch):
    """A Hugging Face cache keeps snapshots/.../clip.mp4 as a link to blobs/<hash>: the input is the
    video clip.mp4. A broken link and a folder that cannot be read are inputs with their reason; a
    link back to a parent folder does not loop."""
    (tmp_path / "blobs").mkdir()
    face_video(tmp_path / "blobs" / "video.mp4", frames=10).rename(tmp_path / "blobs" / "3f2a9c")
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "clip.mp4").symlink_to("../blobs/3f2a9c")
    (snap / "gone.jpg").symlink_to("../blobs/missing")
    (snap / "loop").symlink_to("..")
    (snap / "locked").mkdir()
    scandir = os.scandir

    def refusing_scandir(path="."):  # as chmod 000 would, for root too
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    found = batch.list_inputs([snap])
    broken = "broken symbolic link: its target ../blobs/missing does not exist"
    assert found == {str(snap / "clip.mp4"): "", str(snap / "gone.jpg"): broken,
                     str(snap / "locked"): "cannot read this folder: Permission denied"}
    assert batch.list_inputs([snap / "gone.jpg"]) == {str(snap / "gone.jpg"): broken}
    assert list(batch.list_inputs([str(snap / "*.mp4")])) == [str(snap / "clip.mp4")]
    units = batch.plan_units(list(found), chunk_seconds=0.5, errors=found)
    assert [(u["path"].rsplit("/", 1)[-1], u["kind"]) for u in units] == [
        ("clip.mp4", "video"), ("clip.mp4", "video"), ("gone.jpg", "error"), ("locked", "error")]


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


def test_long_and_large_videos_are_chunked_not_refused(recognizer, collection, monkeypatch):
    """The app's limits on one request (FER_MAX_VIDEO_FRAMES, FER_MAX_VIDEO_PIXELS) do not apply:
    a two-hour film is what chunks are for."""
    import fer.video

    monkeypatch.setattr(fer.video, "MAX_VIDEO_FRAMES", 5)
    monkeypatch.setattr(fer.video, "MAX_VIDEO_PIXELS", 100)
    units = batch.plan_units([str(collection / "pan.mp4")], chunk_seconds=1)
    assert [u["kind"] for u in units] == ["video"] * 3
    assert [r["frame"] for r in batch.analyse_unit(recognizer, units[-1])] == list(range(20, 30))
    # what a header claims does not multiply the units without bound: the last chunk reads to the end
    monkeypatch.setattr(batch.units, "MAX_CHUNKS", 2)
    units = batch.plan_units([str(collection / "pan.mp4")], chunk_seconds=1)
    assert [(u["start"], u["stop"]) for u in units] == [(0, 10), (10, -1)]


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


def test_chunks_of_a_video_with_uneven_timing_keep_each_frames_own_time(recognizer, tmp_path):
    times = [0, 37, 61, 102, 129, 170, 198, 240, 262, 301, 338, 360]  # as a browser records, about 30 fps
    path = str(variable_timing(face_video(tmp_path / "webcam.webm", frames=12), times))  # its length known
    units = batch.plan_units([path], chunk_seconds=0.2)
    assert len(units) > 1  # read in chunks, each seeking to its start
    rows = batch.join_tracks([row for unit in units for row in batch.analyse_unit(recognizer, unit)], every=1)
    assert [r["time_s"] for r in rows] == pytest.approx([t / 1000 for t in times], abs=1e-6)
    assert [r["time"] for r in analyze_video(recognizer, path).rows] == [r["time_s"] for r in rows]


def _face(chunk, chunks, frame, face, box):
    return {"path": "v.mp4", "frame": frame, "face": face, **dict(zip(batch.BOX, box)), "_chunk": chunk,
            "_chunks": chunks, "_rows": 1}


def _empty(chunk, chunks, frame):
    """The row of a chunk that decoded no frame, as analyse_unit marks it."""
    return {"path": "v.mp4", "frame": frame, "error": "no frame decoded", "_chunk": chunk, "_chunks": chunks,
            "_rows": 1, "_empty": True}


def test_a_chunk_past_the_last_frame_is_marked_and_a_real_error_is_not(recognizer, collection, tmp_path):
    unit = {"path": str(collection / "pan.mp4"), "kind": "video", "start": 40, "stop": 50, "chunk": 4, "chunks": 6,
            "fps": 10.0, "error": ""}
    [row] = batch.analyse_unit(recognizer, unit)
    assert row["_empty"] and row["error"] == "no frame decoded from frame 40 to frame 49"
    [row] = batch.analyse_unit(recognizer, {**unit, "path": str(tmp_path / "gone.mp4")})
    assert row["error"] and not row.get("_empty")


def test_join_keeps_real_errors_and_drops_empty_chunks_only_past_the_last_frames():
    a, crash = (0, 0, 10, 10), "OSError: decoder crashed"
    # the header announced 4 chunks; the frames end in chunk 1, so chunks 2 and 3 decoding nothing is no error
    rows = [_face(0, 4, 0, 1, a), _face(1, 4, 10, 1, a), _empty(2, 4, 20), _empty(3, 4, 30)]
    assert not any(r.get("error") for r in batch.join_tracks(rows))
    # a real error in the last chunk is kept, and so is a chunk without frames before one with frames
    rows = [_face(0, 4, 0, 1, a), _empty(1, 4, 10), _face(2, 4, 20, 1, a),
            {**_empty(3, 4, 30), "error": crash, "_empty": None}]
    assert [(r["frame"], r.get("error")) for r in batch.join_tracks(rows) if r.get("error")] == [
        (10, "no frame decoded"), (30, crash)]
    # nothing readable: one error row, the real one
    only = batch.join_tracks([_empty(0, 2, 0), {**_empty(1, 2, 10), "error": crash, "_empty": None}])
    assert [r["error"] for r in only] == [crash]


def test_join_tracks_matches_boxes_across_boundaries():
    a, b, far = (0, 0, 10, 10), (50, 50, 60, 60), (100, 0, 110, 10)
    rows = [
        _face(0, 3, 0, 1, a), _face(0, 3, 0, 2, b), _face(0, 3, 9, 1, a), _face(0, 3, 9, 2, b),
        # chunk 1's tracker numbered them the other way round, and a third face comes in
        _face(1, 3, 10, 1, b), _face(1, 3, 10, 2, a), _face(1, 3, 12, 3, far),
        # the last chunk decoded nothing (frame count overestimated): not an error of the video
        _empty(2, 3, 20),
    ]
    joined = batch.join_tracks(rows)
    assert [(r["frame"], r["face"], r["x0"]) for r in joined] == [(0, 1, 0), (0, 2, 50), (9, 1, 0), (9, 2, 50),
                                                                 (10, 1, 0), (10, 2, 50), (12, 3, 100)]
    assert all(not r.get("error") and "_chunk" not in r for r in joined)
    # a face that left long before the boundary does not continue a new one at the same place
    late = [_face(0, 2, 0, 1, a), _face(0, 2, 0, 2, far), _face(0, 2, 30, 2, far), _face(1, 2, 31, 1, a)]
    assert [r["face"] for r in batch.join_tracks(late)] == [1, 2, 2, 3]


def test_collection_resume_and_schema(ray_local, collection, tmp_path, capsys):
    import ray.data

    out = tmp_path / "results.parquet"
    context = ray.data.DataContext.get_current()
    callers = (context.max_errored_blocks, context.enable_progress_bars)
    # a first run that only got through two photos ...
    # one part a run: no part on the clock (every 30 s by default), which a loaded machine would reach
    first = batch.analyze_collection([collection / "grace_hopper.jpg", collection / "no_face_coffee.jpg"], out,
                                     workers=2, model=MODEL, every=2, flush_seconds=math.inf)
    assert (first.processed, first.readable, first.errors) == (2, 2, 0)
    assert (context.max_errored_blocks, context.enable_progress_bars) == callers  # Ray Data's settings restored
    # ... then the whole folder: only the three files without results are analysed
    second = batch.analyze_collection([collection], out, workers=2, model=MODEL, every=2, chunk_seconds=1,
                                      flush_seconds=math.inf)
    assert (second.inputs, second.skipped, second.processed, second.errors) == (5, 2, 3, 1)
    assert second.frames == 1 + 15  # a photo and 15 video frames; the broken file has none

    table = pq.read_table(out)
    assert table.schema.equals(batch.SCHEMA)
    assert len(list(out.glob("part-*.parquet"))) == 2 and not list(out.glob(".*"))
    assert (out / "_fer_batch.json").is_file()  # the model and every, beside the parts that readers read
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
    assert all(isinstance(r["uncertain"], bool) for r in two) and coffee["uncertain"] is None  # no face, no flag
    video = rows["pan.mp4"]
    assert [r["frame"] for r in video] == list(range(0, 30, 2)) and {r["face"] for r in video} == {1}
    assert video[3]["time_s"] == pytest.approx(0.6)

    # a third run has nothing to do, and says so without starting any worker
    (out / ".part-interrupted.parquet.tmp").write_bytes(b"half a file")  # left by a killed run: ignored
    assert batch.main([str(collection), "--out", str(out), "--every", "2"]) == 0
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


class Replayed:
    """Raw rows as Ray Data might give them when workers die: blocks replayed, a block never given."""

    def __init__(self, *batches):
        self.batches = batches

    def iter_batches(self, **_):
        for rows in self.batches:
            yield pa.Table.from_pylist(rows, schema=batch.RAW_SCHEMA)


def _raw(path, chunk, chunks, rows, frame=0):
    return {"path": path, "frame": frame, "_chunk": chunk, "_chunks": chunks, "_rows": rows}


def test_every_input_gets_rows_when_workers_die(tmp_path):
    """Ray Data drops a block whose worker died on every retry: each input it held gets an error row
    when the stream ends (with the chunks that did come), and a replayed block is not written twice."""
    from tqdm import tqdm

    photo, video, never = "/c/photo.jpg", "/c/video.mp4", "/c/never.jpg"
    chunk0 = [_raw(video, 0, 2, 2, frame=0), _raw(video, 0, 2, 2, frame=1)]
    ds = Replayed([_raw(photo, 0, 1, 1)], chunk0, [_raw(photo, 0, 1, 1)], chunk0)  # chunk 1 never comes
    writer, summary = batch.PartWriter(tmp_path / "out"), batch.Summary()
    with tqdm(disable=True) as bar:
        batch.stream_to_parts(ds, [photo, video, never], writer, summary, 1, bar)
    writer.flush()
    rows: dict[str, list] = {}
    for row in pq.read_table(tmp_path / "out").to_pylist():
        rows.setdefault(row["path"], []).append(row)
    assert [(r["frame"], r["error"]) for r in rows[photo]] == [(0, None)]
    assert sorted(r["frame"] for r in rows[video] if not r["error"]) == [0, 1]
    assert ["worker died" in r["error"] for r in rows[video] if r["error"]] == [True]
    assert ["worker died" in r["error"] for r in rows[never]] == [True]
    assert (summary.processed, summary.errors, summary.lost, summary.frames) == (3, 2, 2, 3)
    assert "2 lost to worker crashes" in summary.line()


def test_finished_inputs_are_written_on_the_clock_while_a_long_video_streams(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tqdm import tqdm

    import fer.batch.parquet_parts as parts

    clock = [0.0]
    monkeypatch.setattr(parts, "time", SimpleNamespace(monotonic=lambda: clock[0], strftime=time.strftime))
    photo, video, out = "/c/photo.jpg", "/c/video.mp4", tmp_path / "out"
    on_disk = []

    class LongVideo:
        def iter_batches(self, **_):
            yield pa.Table.from_pylist([_raw(photo, 0, 1, 1)], schema=batch.RAW_SCHEMA)
            on_disk.append(batch.done_inputs(out))
            clock[0] += 31  # a video chunk that takes half a minute
            yield pa.Table.from_pylist([_raw(video, 0, 2, 1)], schema=batch.RAW_SCHEMA)
            on_disk.append(batch.done_inputs(out))
            yield pa.Table.from_pylist([_raw(video, 1, 2, 1)], schema=batch.RAW_SCHEMA)

    writer = batch.PartWriter(out, max_inputs=1000, max_seconds=30)
    with tqdm(disable=True) as bar:
        batch.stream_to_parts(LongVideo(), [photo, video], writer, batch.Summary(), 1, bar)
    assert on_disk == [set(), {photo}]  # the photo once waited in memory for the video to finish


def test_an_unreadable_part_is_moved_aside_and_its_inputs_redone(tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"path": ["/c/a.jpg"]}), out / "part-a.parquet")
    (out / "part-b.parquet").write_bytes(b"")  # renamed whole, then emptied by a power cut
    assert batch.done_inputs(out) == {"/c/a.jpg"}  # was an ArrowInvalid, and no run could resume
    assert (out / ".part-b.parquet.unreadable").exists() and not (out / "part-b.parquet").exists()
    assert "part-b.parquet cannot be read" in caplog.text


def test_done_inputs_makes_one_string_a_path_not_one_a_row(tmp_path):
    import tracemalloc

    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"path": [f"/videos/{i % 3}.mp4" for i in range(200_000)]}), out / "part-a.parquet")
    (out / "_fer_batch.json").write_text("{}")  # not a part
    tracemalloc.start()
    done = batch.done_inputs(out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert done == {"/videos/0.mp4", "/videos/1.mp4", "/videos/2.mp4"}
    assert peak < 2_000_000, f"{peak / 1e6:.1f} MB of Python objects to read three paths"


def test_the_model_is_chosen_once_and_results_keep_their_settings(collection, tmp_path, monkeypatch):
    """Each actor loads the model the driver resolved, whatever FER_MODEL says on its node, and a
    results folder refuses rows of another model or every. No Ray starts: the checks come first."""
    monkeypatch.setenv("FER_MODEL", "bundled:accurate")
    chosen = choose_model()
    assert (chosen.source, chosen.revision, chosen.origin) == ("bundled:accurate", None, "bundled:accurate")
    assert choose_model("bundled").config_sha256 != chosen.config_sha256
    out = tmp_path / "out"
    record_settings(out, run_settings(chosen, every=2))
    photo = collection / "grace_hopper.jpg"
    with pytest.raises(ValueError, match="every: 2 there, 3 now.*--every.*another --out"):
        batch.analyze_collection([photo], out, every=3)
    with pytest.raises(ValueError, match="model: 'bundled:accurate' there, 'bundled' now"):
        batch.analyze_collection([photo], out, every=2, model="bundled")
    older = tmp_path / "older"  # results of a version that kept no record
    older.mkdir()
    pq.write_table(batch.SCHEMA.empty_table(), older / "part-0.parquet")
    with pytest.raises(ValueError, match="without _fer_batch.json"):
        batch.analyze_collection([photo], older)
    with pytest.raises(ValueError, match="not the one the run chose"):  # an actor that got another model
        batch.Analyzer(ModelChoice("bundled", None, "bundled", "0" * 64))


def test_the_summary_counts_the_errors_it_does_not_list(tmp_path, monkeypatch, capsys):
    summary = batch.Summary(inputs=12, processed=12, errors=12, out="r.parquet",
                            error_paths=[f"/c/{i}.jpg" for i in range(12)])
    monkeypatch.setattr(batch, "analyze_collection", lambda *a, **k: summary)
    assert batch.main(["/c", "--out", "r.parquet"]) == 1
    err = capsys.readouterr().err
    assert "/c/9.jpg" in err and "/c/10.jpg" not in err
    assert "and 2 more" in err and "error" in err.splitlines()[-1]


def test_every_is_checked_once_and_refused_without_a_traceback(tmp_path, capsys):
    assert batch.main([str(tmp_path), "--out", str(tmp_path / "out"), "--every", "0"]) == 2
    assert "every must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


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
