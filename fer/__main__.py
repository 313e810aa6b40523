"""``python -m fer FILE [FILE ...] [--json] [--model DIR_OR_REPO] [--revision REV] [--out DIR] [--csv CSV]``.

Images give every face; videos (by extension) give each tracked face's emotions over time, with
``--every N`` frames analysed and ``--csv`` for one row per face per analysed frame.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fer", description="Emotion of every face in images and videos.")
    parser.add_argument("images", nargs="+", metavar="FILE", help="image or video files")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object per input")
    parser.add_argument("--model", help="model folder or Hub repo id (default: FER_MODEL or the app's model)")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    parser.add_argument("--out", type=Path, help="also write annotated copies (images: PNG, videos: WebM) here")
    parser.add_argument("--every", type=int, default=1, help="videos: analyse every Nth frame (default 1)")
    parser.add_argument("--csv", type=Path, help="videos: write frame, time, face id, box and probabilities here")
    args = parser.parse_args(argv)
    videos = [p for p in args.images if is_video(p)]
    if args.csv and len(videos) != 1:
        parser.error("--csv needs exactly one video among the inputs")
    return args


def is_video(path: str) -> bool:
    from fer.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def analyse_video(recognizer, path: str, args: argparse.Namespace) -> dict:
    from fer.video import VideoError, analyze_video

    annotated = None
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        annotated = args.out / (Path(path).stem + "_fer.webm")
    try:
        analysis = analyze_video(recognizer, path, every=args.every, annotated=annotated)
    except VideoError as err:
        return {"path": path, "video": None, "error": str(err)}
    if args.csv:
        analysis.write_csv(args.csv)
    return {"path": path, "video": analysis.summary(), "error": None}


def analyse(recognizer, path: str, out: Path | None) -> dict:
    """One input -> ``{"path", "faces", "error"}``; a bad input gives an error, never an exception."""
    from fer.image import ImageError, load_image

    try:
        image = load_image(path)
        result = recognizer.predict(image)
    except (ImageError, OSError) as err:
        return {"path": path, "faces": [], "error": str(err)}
    if out is not None:
        from PIL import Image

        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(result.plot(image)).save(out / (Path(path).stem + "_fer.png"))
    return {"path": path, **result.to_dict(), "error": None}


def format_table(records: list[dict]) -> str:
    lines = []
    for record in records:
        if record["error"]:
            lines.append(f"{record['path']}: ERROR {record['error']}")
            continue
        if "video" in record:
            video = record["video"]
            lines.append(f"{record['path']}: {video['duration']:.1f} s, {video['analysed_frames']} frames analysed, "
                         f"{len(video['tracks'])} face(s) tracked")
            for track_id, track in video["tracks"].items():
                top3 = sorted(track["mean_scores"].items(), key=lambda kv: -kv[1])[:3]
                lines.append(f"  face {track_id}: {track['frames']} frames, mostly {track['label']} ("
                             + ", ".join(f"{k} {v:.0%}" for k, v in top3) + ")")
            continue
        lines.append(f"{record['path']}: {len(record['faces'])} face(s)")
        if record["faces"]:
            lines.append(f"  {'#':>2}  {'box (x0, y0, x1, y1)':<24} {'det':>5}  {'label':<9} {'conf':>5}  top-3")
        for i, face in enumerate(record["faces"], start=1):
            top3 = sorted(face["scores"].items(), key=lambda kv: -kv[1])[:3]
            box = ", ".join(str(v) for v in face["box"])
            lines.append(
                f"  {i:>2}  {box:<24} {face['score']:>5.2f}  {face['label']:<9} "
                f"{face['scores'][face['label']]:>5.0%}  " + ", ".join(f"{k} {v:.0%}" for k, v in top3)
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from fer.predictor import EmotionRecognizer

    recognizer = EmotionRecognizer(args.model, args.revision)
    records = [
        analyse_video(recognizer, path, args) if is_video(path) else analyse(recognizer, path, args.out)
        for path in args.images
    ]
    print(json.dumps(records, indent=2) if args.json else format_table(records))
    # non-zero only when nothing could be read: a batch with one bad file still did its job
    return 1 if all(r["error"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
