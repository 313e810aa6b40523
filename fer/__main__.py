"""``python -m fer FILE [FILE ...] [--json] [--model DIR_OR_REPO] [--revision REV] [--out DIR] [--csv CSV] [--max-video-seconds S] [--verbose]``.

Images give every face; videos (by extension) give each tracked face's emotions over time, with
``--every N`` frames analysed and ``--csv`` for one row per face per analysed frame.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import warnings
from pathlib import Path

log = logging.getLogger("fer.cli")  # not __name__: under `python -m fer` that is "__main__", outside the "fer" logger --verbose turns on


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fer", description="Emotion of every face in images and videos.")
    parser.add_argument("images", nargs="+", metavar="FILE", help="image or video files, or folders (their "
                        "image and video files, subfolders included)")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object per input")
    parser.add_argument("--model", help="model folder or Hub repo id (default: FER_MODEL or the app's model)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--out", type=Path, help="also write annotated copies here, named by the input's position "
                        "and its name: 1_photo_fer.png (images), 2_clip_fer.webm (videos)")
    parser.add_argument("--every", type=int, default=1, help="videos: analyse every Nth frame (default 1)")
    parser.add_argument("--csv", type=Path, help="videos: write frame, time, face id, box and probabilities here")
    parser.add_argument("--max-video-seconds", type=float, default=None, metavar="SECONDS",
                        help="videos: refuse those longer than this (default 300; python -m fer.batch has no limit)")
    parser.add_argument("--verbose", action="store_true", help="also print debug logs and the native libraries' "
                        "start-up messages, hidden by default (as FER_VERBOSE=1 does)")
    args = parser.parse_args(argv)
    args.images = with_folders_listed(args.images)
    if args.every < 1:  # a usage error, not one failure per video
        parser.error("--every must be 1 or more")
    if args.max_video_seconds is not None and not args.max_video_seconds > 0:  # also refuses nan
        parser.error("--max-video-seconds must be more than 0")
    videos = [p for p in args.images if is_video(p)]
    if args.csv and len(videos) != 1:
        parser.error("--csv needs exactly one video among the inputs")
    # `--csv clip.mp4 other.mp4`, a slip of the argument order, would replace the video with a table
    if args.csv and any(args.csv.resolve() == Path(p).resolve() for p in args.images):
        parser.error(f"--csv {args.csv} is one of the inputs: name a new file for the table")
    return args


def with_folders_listed(inputs: list[str]) -> list[str]:
    """``inputs`` with each folder replaced by its image and video files, found as ``python -m
    fer.batch`` finds them (subfolders too, hidden files left out, sorted); a folder without any
    stays, for its record to say so."""
    from fer.batch.inputs import media_suffixes, walk_folder

    listed: list[str] = []
    for item in inputs:
        files = list(walk_folder(item, media_suffixes())) if os.path.isdir(item) else []
        listed += files or [item]
    return listed


def is_video(path: str) -> bool:
    from fer.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def output_name(index: int, count: int, path: str, suffix: str) -> str:
    """The annotated copy's file name in ``--out``: the input's position among the inputs (two
    ``photo.jpg`` from different folders must not overwrite each other) and its name reduced to
    letters, digits, ``-`` and ``_``, so nothing from a user's file name (``/``, ``..``, control
    characters, a name too long for the file system) reaches the path."""
    stem = re.sub(r"[^\w-]+", "_", Path(path).stem)[:40].strip("_") or "image"
    return f"{index:0{len(str(count))}d}_{stem}_fer{suffix}"


def describe_failure(err: BaseException) -> str:
    """A message fit for the user: our own readers' messages as written, the OS's words for an I/O
    failure, never an exception class name, a traceback or a path (the details go to the debug log)."""
    from fer.image import ImageError
    from fer.video import VideoError

    log.debug("analysis failed", exc_info=err)
    if isinstance(err, (ImageError, VideoError)):
        return str(err)
    if isinstance(err, MemoryError):
        return "not enough memory to analyse this file"
    if isinstance(err, OSError):
        return f"the file could not be read or written ({(err.strerror or 'input/output failure').lower()})"
    return "this file could not be analysed (an unexpected internal failure)"


def analyse_video(recognizer, path: str, args: argparse.Namespace, annotated: Path | None = None,
                  progress=None) -> dict:
    from fer.video import analyze_video

    try:
        limit = {} if args.max_video_seconds is None else {"max_seconds": args.max_video_seconds}
        analysis = analyze_video(recognizer, path, every=args.every, annotated=annotated, progress=progress, **limit)
    except Exception as err:  # whatever it is, this file's record says so and the others go on
        return {"path": path, "video": None, "error": describe_failure(err)}
    record = {"path": path, "video": analysis.summary(), "error": None}
    if args.csv:
        try:
            analysis.write_csv(args.csv)
        except Exception as err:  # the analysis stands; the CSV is what failed
            record["error"] = "video analysed, but the CSV could not be written: " + describe_failure(err)
    return record


def analyse(recognizer, path: str, annotated: Path | None = None) -> dict:
    """One input -> ``{"path", "faces", "error"}``; a bad input gives an error, never an exception."""
    from fer.image import load_image

    if os.path.isdir(path):  # with_folders_listed found nothing in it, or could not read it
        try:
            os.listdir(path)
            error = "this folder holds no image or video files"
        except OSError as err:
            error = f"this folder cannot be read ({(err.strerror or 'read error').lower()})"
        return {"path": path, "faces": [], "error": error}
    try:
        image = load_image(path)
        result = recognizer.predict(image)
    except Exception as err:  # whatever it is, this file's record says so and the others go on
        return {"path": path, "faces": [], "error": describe_failure(err)}
    record = {"path": path, **result.to_dict(), "error": None}
    if annotated is not None:
        from PIL import Image

        from fer.draw import draw_results

        try:
            Image.fromarray(draw_results(image, result)).save(annotated)
        except Exception as err:  # a full disk: the faces were found, the copy is what failed
            record["error"] = "faces found, but the annotated copy could not be saved: " + describe_failure(err)
    return record


def printable(text: str) -> str:
    """A file name fit for the terminal: no escape sequences or control characters from it."""
    return "".join(c if c.isprintable() else "?" for c in text)


def format_table(records: list[dict]) -> str:
    lines = []
    for record in records:
        path = printable(record["path"])
        if record["error"] and not (record.get("faces") or record.get("video")):
            lines.append(f"{path}: ERROR {record['error']}")
            continue
        if record["error"]:  # the analysis stands, but a file asked for could not be written
            lines.append(f"{path}: ERROR {record['error']}")
        if "video" in record:
            video = record["video"]
            lines.append(f"{path}: {video['duration']:.1f} s, {video['analysed_frames']} frames analysed, "
                         f"{len(video['tracks'])} face(s) tracked")
            if video.get("warning"):  # the results cover part of the video: the JSON says so, and so must this
                lines.append(f"  warning: {video['warning']}")
            for track_id, track in video["tracks"].items():
                top3 = sorted(track["mean_scores"].items(), key=lambda kv: -kv[1])[:3]
                lines.append(f"  face {track_id}: {track['frames']} frames, mostly {track['label']} ("
                             + ", ".join(f"{k} {v:.0%}" for k, v in top3) + ")")
            continue
        lines.append(f"{path}: {len(record['faces'])} face(s)")
        if record["faces"]:
            lines.append(f"  {'#':>2}  {'box (x0, y0, x1, y1)':<24} {'det':>5}  {'label':<9} {'conf':>5}  top-3")
        for i, face in enumerate(record["faces"], start=1):
            top3 = sorted(face["scores"].items(), key=lambda kv: -kv[1])[:3]
            box = ", ".join(str(v) for v in face["box"])
            label = face["label"] + ("?" if face.get("uncertain") else "")
            lines.append(
                f"  {i:>2}  {box:<24} {face['score']:>5.2f}  {label:<9} "
                f"{face['scores'][face['label']]:>5.0%}  " + ", ".join(f"{k} {v:.0%}" for k, v in top3)
            )
        if any(face.get("uncertain") for face in record["faces"]):
            lines.append("  ?: unsure, the top probability is under the model's threshold (more likely wrong than right)")
    return "\n".join(lines)


def show_debug_logs() -> None:
    """``--verbose``: fer's debug log (what failed, with its traceback) on stderr, and with the ``fer``
    logger at DEBUG, :mod:`fer.native_logs` lets MediaPipe's and LiteRT's own messages through too."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("fer").setLevel(logging.DEBUG)


def print_results(text: str) -> bool:
    """Print the results; False where stdout cannot take them (a full disk behind ``> out.json``, a
    reader that left, ``| head``): said in a line on stderr, or nothing for a closed pipe, never a traceback."""
    try:
        print(text, flush=True)
        return True
    except OSError as err:
        if not isinstance(err, BrokenPipeError):
            print(f"python -m fer: cannot write the results ({(err.strerror or 'failure').lower()})",
                  file=sys.stderr)
        # what stdout still buffers would fail again as Python exits, with its own message
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False


def progress_stream():
    """The terminal that stderr is now, for the progress bar: a stream of its own on a copy of fd 2,
    so the bar is drawn while :func:`quiet_native_logs` holds fd 2; None where stderr is no terminal
    (a log file, a pipe, CI), whose readers want the results, not a bar's redraws."""
    try:
        if not os.isatty(2):
            return None
        # a file name the terminal's encoding cannot show is drawn with "?", never a failure
        return os.fdopen(os.dup(2), "w", encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                         errors="replace")
    except OSError:
        return None


def analyse_all(recognizer, args: argparse.Namespace, records: list[dict]) -> None:
    """Analyse the inputs in order, appending each one's record as it is done, with a bar on the
    terminal: files done, and the current video's frames. Ctrl-C leaves ``records`` as far as it got."""
    from tqdm import tqdm

    from fer.native_logs import quiet_native_logs

    stream = progress_stream()
    # the CLI owns its process, so it filters fd 2 for the whole analysis: MediaPipe also notes
    # tensor alignment on later calls, depending on where its buffers happen to lie. miniters=0: tqdm
    # would otherwise raise its redraw step after the first files, and a later video's frames
    # (update(0)) would never be drawn
    with contextlib.closing(stream) if stream is not None else contextlib.nullcontext(), quiet_native_logs(), \
            tqdm(total=len(args.images), unit="file", file=stream, disable=stream is None, leave=False,
                 dynamic_ncols=True, miniters=0) as bar:
        for index, path in enumerate(args.images, start=1):
            bar.set_description(printable(Path(path).name[:30]))  # drawn: which file is under way
            annotated = None
            if is_video(path):
                if args.out is not None:
                    annotated = args.out / output_name(index, len(args.images), path, ".webm")
                def frames(fraction, text):  # redrawn at tqdm's pace, not once a frame
                    bar.set_postfix_str(text, refresh=False)
                    bar.update(0)

                records.append(analyse_video(recognizer, path, args, annotated, progress=frames))
            else:
                if args.out is not None:
                    annotated = args.out / output_name(index, len(args.images), path, ".png")
                records.append(analyse(recognizer, path, annotated))
            bar.set_postfix_str("", refresh=False)
            bar.update()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.verbose:
        show_debug_logs()
    # Pillow warns on stderr about oddities it copes with (corrupt EXIF); each file's record already
    # says what matters, and the CLI owns its process, so its warnings filter is ours to set
    warnings.filterwarnings("ignore", module=r"PIL\.")
    from fer.source import first_line

    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"python -m fer: cannot create the --out folder ({(err.strerror or 'failure').lower()})",
                  file=sys.stderr)
            return 2
    try:
        from fer.predictor import EmotionRecognizer  # its native libraries take a moment to load too

        recognizer = EmotionRecognizer(args.model, args.revision)
    except (OSError, ValueError) as err:  # no such model, unreachable Hub, corrupt download
        log.debug("model failed to load", exc_info=err)
        print(f"python -m fer: cannot load the model: {first_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a download from the Hub can take a while; Ctrl-C then is no crash
        print("python -m fer: interrupted while the model loaded; no file was analysed", file=sys.stderr)
        return 130
    records: list[dict] = []
    interrupted = False
    try:
        analyse_all(recognizer, args, records)
    except KeyboardInterrupt:  # Ctrl-C: what was analysed is printed, not lost with a traceback
        interrupted = True
        print(f"python -m fer: interrupted; the results below cover {len(records)} of {len(args.images)} "
              "file(s)", file=sys.stderr, flush=True)
    if not print_results(json.dumps(records, indent=2) if args.json else format_table(records)):
        return 2
    if interrupted:
        return 130  # the shell's code for a run ended by Ctrl-C (128 + SIGINT)
    # non-zero only when nothing could be read: a batch with one bad file still did its job
    return 1 if all(r["error"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
