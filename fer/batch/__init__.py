"""``python -m fer.batch INPUT [INPUT ...] --out RESULTS.parquet [--every N] [--workers N] [--address ADDR]``.

Whole collections of photos and videos through Ray Data, on this machine or a Ray cluster with the
same code. INPUT is any mix of image files, video files, folders (searched recursively) and globs.

How it runs, one module per stage, in the order the data goes through them:

1. :mod:`fer.batch.inputs` lists the files, and :mod:`fer.batch.units` cuts each video into frame
   ranges of ``chunk_seconds`` (only its header is read), so one long video keeps every worker busy
   and a worker holds one frame and one chunk's rows at a time, whatever the video's length.
   :mod:`fer.batch.provenance` resolves the model, once, on the driver.
2. :mod:`fer.batch.ray_pipeline` sends those work units through ``map_batches`` into a pool of actors
   (``ray.data.ActorPoolStrategy``), one per CPU by default; each runs :mod:`fer.batch.analyse` with
   its own :class:`fer.EmotionRecognizer` of that model, loaded once (models are never pickled).
   Images are read by :func:`fer.load_image`, videos by :func:`fer.video.iter_frames`, faces in a
   chunk are followed by :class:`fer.tracking.FaceTracker`.
3. :mod:`fer.batch.join` joins the tracks of consecutive chunks by box overlap at the boundary.
4. :mod:`fer.batch.parquet_parts` writes each input, once whole, into a Parquet part file, and
   :mod:`fer.batch.summary` counts what was done.

Rows (:data:`fer.batch.schema.SCHEMA`): one per face per image or analysed video frame; one with
``face`` empty per image or analysed frame without a face; one with ``error`` set per input that
could not be read.

With ``out``, rows stream back to the driver and are written as a Parquet dataset: a folder of part
files, each holding only complete inputs, written under a hidden name then renamed. A run that is
stopped leaves every finished part readable, and a run with the same ``out`` skips every input that
already has rows (errors included); ``out`` records the model and ``every``, and a run with others is
refused. Every input gets rows: one whose worker died on every retry gets an error row saying so.
Without ``out``, :func:`analyze_collection` returns the Ray Dataset, for use inside a larger Ray
pipeline.

This module holds the two ways in, :func:`analyze_collection` and the command line (:func:`main`).
Ray is imported only when a collection is analysed, never by ``import fer``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from fer.batch.analyse import Analyzer, analyse_unit
from fer.batch.inputs import list_inputs
from fer.batch.join import join_group, join_tracks
from fer.batch.parquet_parts import PartWriter, done_inputs, stream_to_parts
from fer.batch.provenance import check_settings, choose_model, record_settings, run_settings
from fer.batch.ray_pipeline import ray_data_settings, raw_dataset, start_ray
from fer.batch.schema import BOX, RAW_SCHEMA, SCHEMA
from fer.batch.summary import Summary
from fer.batch.units import plan_units
from fer.config import EMOTIONS  # the emotion columns of SCHEMA, in order

__all__ = ["BOX", "EMOTIONS", "RAW_SCHEMA", "SCHEMA", "Analyzer", "PartWriter", "Summary", "analyse_unit",
           "analyze_collection", "done_inputs", "join_tracks", "list_inputs", "main", "plan_units", "raw_dataset",
           "start_ray", "stream_to_parts"]


def analyze_collection(
    inputs: Iterable[str | Path],
    out: str | Path | None = None,
    *,
    every: int = 1,
    workers: int | None = None,
    address: str | None = None,
    model: str | None = None,
    revision: str | None = None,
    chunk_seconds: float = 30.0,
    progress: bool = False,
    quiet: bool = True,
    flush_inputs: int = 1000,
    flush_seconds: float = 30.0,
):
    """Analyse files, folders and globs with Ray Data.

    With ``out``: write the Parquet dataset folder ``out`` (skipping inputs already in it) and
    return a :class:`Summary`; a Ray started here is shut down at the end. ``out`` records the model
    and ``every``, and a run with others is refused (ValueError). Without ``out``: return the lazy
    Ray Dataset of final rows (``SCHEMA``), whose last step groups rows by path to join video
    tracks; Ray is left running for the caller's pipeline. ``workers`` defaults to one actor per CPU
    of the cluster; ``model`` and ``revision`` are those of :class:`fer.EmotionRecognizer`, resolved
    here once for every worker.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    found = list_inputs(inputs)
    summary = Summary(inputs=len(found), out=str(out) if out is not None else "")
    chosen = choose_model(model, revision)
    settings = run_settings(chosen, every)
    if out is not None:
        check_settings(Path(out), settings)
    done = done_inputs(Path(out)) if out is not None else set()
    todo = [p for p in found if p not in done]
    summary.skipped = len(found) - len(todo)
    if out is not None and not todo:
        return summary  # nothing to do: do not start Ray
    units = plan_units(todo, every, chunk_seconds, errors=found)
    started = start_ray(address, workers, quiet)
    try:
        import ray

        workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        if out is None:
            if not units:
                return ray.data.from_arrow(SCHEMA.empty_table())
            raw = raw_dataset(units, workers, chosen, every)
            return raw.groupby("path").map_groups(join_group, fn_kwargs={"every": every}, batch_format="pyarrow")
        from tqdm import tqdm

        record_settings(Path(out), settings)
        writer = PartWriter(Path(out), flush_inputs, flush_seconds)
        start = time.monotonic()
        with ray_data_settings(), tqdm(total=len(todo), unit="file", disable=not progress, dynamic_ncols=True) as bar:
            try:
                stream_to_parts(raw_dataset(units, workers, chosen, every), todo, writer, summary, every, bar)
            finally:
                writer.flush()  # what finished before an interruption is kept for the next run
        summary.seconds = time.monotonic() - start
        return summary
    finally:
        if started and out is not None:
            ray.shutdown()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fer.batch", description=__doc__.split("\n\n")[1],
                                     epilog="Results: a folder of Parquet part files; pandas.read_parquet(OUT) reads it.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, folders (recursive), globs")
    parser.add_argument("--out", required=True, type=Path, help="results folder, e.g. results.parquet; "
                        "running again with the same --out does only the inputs it lacks")
    parser.add_argument("--every", type=int, default=1, help="videos: analyse every Nth frame (default 1)")
    parser.add_argument("--workers", type=int, help="actors, one CPU each (default: one per CPU of the cluster)")
    parser.add_argument("--address", help="Ray cluster to attach to (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="videos: length of the frame ranges "
                        "analysed in parallel (default 30)")
    parser.add_argument("--model", help="model folder or Hub repo id (default: FER_MODEL or the app's model)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--verbose", action="store_true", help="show the Ray workers' own logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = analyze_collection(
            args.inputs, args.out, every=args.every, workers=args.workers, address=args.address, model=args.model,
            revision=args.revision, chunk_seconds=args.chunk_seconds, progress=True, quiet=not args.verbose,
        )
    except ValueError as err:  # a setting refused (--every, a results folder of other settings): no traceback
        print(f"python -m fer.batch: error: {err}", file=sys.stderr)
        return 2
    report(summary)
    # non-zero only when nothing could be read; a collection with some broken files did its job
    return 0 if summary.readable or summary.skipped else 1


def report(summary: Summary, shown: int = 10) -> None:
    """The closing lines: counts, and the first ``shown`` inputs with errors."""
    if summary.inputs == 0:
        print("no image or video found in the inputs", file=sys.stderr)
    elif summary.processed == 0:
        print(f"nothing to do: all {summary.inputs} inputs already have results in {summary.out}")
    else:
        print(summary.line())
        for path in summary.error_paths[:shown]:
            print(f"  error: {path}", file=sys.stderr)
        if len(summary.error_paths) > shown:
            print(f"  ... and {len(summary.error_paths) - shown} more: the rows of {summary.out} with `error` set "
                  f"list them all (pandas: df[df.error.notna()])", file=sys.stderr)
