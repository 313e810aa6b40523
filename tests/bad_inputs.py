"""A corpus of malformed and unusual inputs, generated (no committed binaries), for every interface's
tests: ``corpus(folder)`` writes one file per kind and returns ``{kind: Case}``.

Each case says what a correct reader answers: ``"face"`` (a result with at least one face: the
portrait survived the odd encoding), ``"result"`` (a result, faces or not), ``"error"`` (a refusal
whose message matches ``match``) or ``"either"`` (a partial result or a clear refusal: truncated
video). ``good`` kinds are ordinary files that must keep their results among the bad ones.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

from conftest import EXAMPLES
from videos import face_video

# what no user-facing message may contain: a traceback, an exception class name, Python's file lines
LEAK = r"Error\b|Exception|Traceback|File \"|Warning\b"


@dataclass
class Case:
    path: Path
    expect: str  # "face", "result", "error" or "either"
    match: str = ""  # regex an error message must match (what is wrong / what the limit is)
    video: bool = False
    good: bool = False


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb(width: int, height: int, bit_depth: int = 8) -> bytes:
    """A valid greyscale PNG of zeros: a few hundred KB that decode to ``width * height`` pixels."""
    row = bytes(1 + (width * bit_depth + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


# how to store an upright image so that a viewer applying EXIF orientation N shows it upright again
_STORE_FOR_ORIENTATION = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def corpus(folder: Path) -> dict[str, Case]:
    """Write every kind into ``folder`` (created) and return ``{kind: Case}``."""
    folder.mkdir(parents=True, exist_ok=True)
    portrait = Image.open(EXAMPLES / "grace_hopper.jpg").convert("RGB")  # 512 x 600, one face
    jpeg = (EXAMPLES / "grace_hopper.jpg").read_bytes()
    grey = portrait.convert("L")
    cases: dict[str, Case] = {}

    def add(kind: str, name: str, data: bytes, expect: str, match: str = "", **kw) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        cases[kind] = Case(path, expect, match, **kw)

    not_image = "not a photo|not an image"
    # ordinary files, whose results must survive the bad ones around them
    add("good_jpeg", "good.jpg", jpeg, "face", good=True)
    add("good_two_faces", "two_faces.jpg", (EXAMPLES / "two_faces.jpg").read_bytes(), "face", good=True)
    # not images at all
    add("empty", "empty.jpg", b"", "error", "empty")
    add("text_as_jpg", "notes.jpg", b"Dear diary, today I felt happy.\n" * 20, "error", "text file")
    # files of 1-3 bytes: shorter than what some formats' recognisers read (BMP's wants 4)
    add("three_byte_text", "hi.txt", b"hi\n", "error", "text file")
    add("two_byte_json", "empty.json", b"{}", "error", "text file")
    add("html_as_png", "page.png", b"<!DOCTYPE html><html><body><img src=x></body></html>", "error", "HTML page")
    add("svg", "drawing.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><circle cx="5" cy="5" r="4"/></svg>', "error", "SVG")
    add("svg_as_png", "drawing.png", b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>',
        "error", "SVG")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("photo.jpg", jpeg)
    add("zip_as_jpg", "archive.jpg", zipped.getvalue(), "error", "ZIP archive")
    add("pdf_as_jpg", "document.jpg", b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n", "error", "PDF")
    add("random_bytes", "noise.jpg", np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes(), "error",
        not_image)
    # damaged images
    add("truncated_jpeg", "truncated.jpg", jpeg[: len(jpeg) // 2], "error", "incomplete|cut short")
    add("header_only_jpeg", "header.jpg", jpeg[: jpeg.index(b"\xff\xda")], "error", "damaged|cut short")
    add("truncated_png", "truncated.png", _encode(portrait, "PNG")[:5000], "error", "incomplete|damaged|cut short")
    # decompression bombs: tiny files declaring 2.5 gigapixels (past Pillow's own error limit) and
    # 100 megapixels (between Pillow's warning and error limits)
    add("png_bomb_huge", "bomb.png", png_bomb(50_000, 50_000, bit_depth=1), "error", r"limit of \d+ megapixels")
    add("png_bomb_100mp", "bomb100.png", png_bomb(10_000, 10_000), "error", r"limit of \d+ megapixels")
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", "a" * 20_000_000, zip=True)  # 20 MB of text zipped into ~20 KB
    add("png_text_bomb", "textbomb.png", _encode(Image.new("L", (8, 8)), "PNG", pnginfo=text), "error", "damaged")
    # extreme sizes: a result (no face), not a crash
    add("one_pixel", "pixel.png", _encode(Image.new("RGB", (1, 1), (200, 100, 50)), "PNG"), "result")
    add("wide_10000x1", "wide.png", _encode(Image.new("L", (10_000, 1), 90), "PNG"), "result")
    add("tall_1x10000", "tall.png", _encode(Image.new("L", (1, 10_000), 90), "PNG"), "result")
    add("portrait_in_8000x600_strip", "strip.jpg", _encode(_pad(portrait, 8000, 600), "JPEG"), "face")
    # unusual pixel formats, each still holding the portrait
    add("grey_16bit_png", "grey16.png", _encode(Image.fromarray(np.asarray(grey, np.uint16) * 257), "PNG"), "face")
    add("int32_tiff", "int32.tif", _encode(Image.fromarray(np.asarray(grey, np.int32) * 1000 - 5000), "TIFF"), "face")
    floats = np.asarray(grey, np.float32) / 255
    floats[0, :10] = np.nan  # float TIFFs may carry NaN
    add("float_tiff", "float.tif", _encode(Image.fromarray(floats), "TIFF"), "face")
    add("cmyk_jpeg", "cmyk.jpg", _encode(portrait.convert("CMYK"), "JPEG"), "face")
    palette = portrait.convert("P", palette=Image.Palette.ADAPTIVE)
    add("palette_transparency", "palette.png", _encode(palette, "PNG", transparency=0), "face")
    add("grey_alpha_la", "la.png", _encode(grey.convert("LA"), "PNG"), "face")
    rgba = portrait.convert("RGBA")
    rgba.putalpha(_vignette(rgba.size))
    add("rgba_alpha", "alpha.png", _encode(rgba, "PNG"), "face")
    add("one_bit", "onebit.png", _encode(portrait.convert("1"), "PNG"), "result")
    add("webp", "photo.webp", _encode(portrait, "WEBP"), "face")
    add("truncated_webp", "truncated.webp", _encode(portrait, "WEBP")[:-100], "error", "cut short")
    add("bmp", "photo.bmp", _encode(portrait, "BMP"), "face")
    add("progressive_jpeg", "progressive.jpg", _encode(portrait, "JPEG", progressive=True), "face")
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (600, 512, 3), np.uint8))
    add("animated_gif", "animated.gif", _encode(portrait, "GIF", save_all=True, append_images=[noise], duration=100,
                                                 loop=0), "face")
    add("multipage_tiff", "pages.tif", _encode(portrait, "TIFF", save_all=True, append_images=[noise]), "face")
    for orientation, store in _STORE_FOR_ORIENTATION.items():
        stored = portrait.transpose(store) if store is not None else portrait
        add(f"exif_orientation_{orientation}", f"exif{orientation}.jpg",
            _encode(stored, "JPEG", exif=_exif(orientation)), "face")
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription filling most of the 64 KB APP1 segment
    exif[0x0112] = 1
    add("huge_exif", "huge_exif.jpg", _encode(portrait, "JPEG", exif=exif.tobytes()), "face")
    broken = bytearray(_encode(portrait, "JPEG", exif=_exif(6)))
    at = broken.index(b"Exif\x00\x00") + 6
    broken[at + 8 : at + 20] = b"\xff" * 12  # the IFD garbled (65535 entries): orientation unreadable
    add("corrupt_exif", "corrupt_exif.jpg", bytes(broken), "face")  # stored upright
    # names and extensions that lie
    add("png_named_jpg", "really_png.jpg", _encode(portrait, "PNG"), "face")
    add("jpeg_named_png", "really_jpeg.png", jpeg, "face")
    add("jpeg_named_gif_uppercase", "PHOTO.GIF", jpeg, "face")
    add("no_extension", "photo", jpeg, "face")
    add("unicode_name", "émotion 😀 照片 (1).jpg", jpeg, "face")
    add("dotdot_in_path", "sub/../dotdot.jpg", jpeg, "face")
    add("name_dotdot_jpg", "..jpg", jpeg, "face")
    (folder / "folder.jpg").mkdir(exist_ok=True)
    cases["folder_named_jpg"] = Case(folder / "folder.jpg", "error", "folder")  # the CLI lists a folder's files first
    cases["missing_file"] = Case(folder / "missing.jpg", "error", "no such file")
    # videos (read by fer.video)
    add("video_empty", "empty.mp4", b"", "error", "", video=True)
    add("video_corrupt", "corrupt.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, "error", "", video=True)
    add("video_text", "notes.webm", b"not a video at all\n" * 50, "error", "", video=True)
    cases["video_no_frames"] = Case(_no_frames(folder / "no_frames.avi"), "error", "", video=True)
    cases["video_very_long"] = Case(_long_video(folder / "long.avi"), "either", "limit|lasts", video=True)
    whole = face_video(folder / "whole.webm", frames=12).read_bytes()
    add("video_truncated", "truncated.webm", whole[: len(whole) * 2 // 3], "either", "", video=True)
    cases["good_video"] = Case(face_video(folder / "good.mp4", frames=6), "face", video=True, good=True)
    return cases


def _pad(im: Image.Image, width: int, height: int) -> Image.Image:
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    canvas.paste(im.resize((im.width * height // im.height, height)), (width // 2, 0))
    return canvas


def _vignette(size: tuple[int, int]) -> Image.Image:
    """Opaque in the middle, transparent at the edges: the face stays, the corners go white."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((x - w / 2) / (w / 2), (y - h / 2) / (h / 2))
    return Image.fromarray((np.clip(1.6 - r, 0, 1) * 255).astype(np.uint8))


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _no_frames(path: Path) -> Path:
    """A container with a header and no frame: the writer opened and closed at once."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.release()
    return path


def _long_video(path: Path) -> Path:
    """Ten minutes at one frame a second: tiny frames, a duration over any sensible limit."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 1.0, (32, 24))
    frame = np.full((24, 32, 3), 128, np.uint8)
    for _ in range(600):
        writer.write(frame)
    writer.release()
    return path


# --- answers, shared by the tests and the table for the closing note ---------------------------------


@dataclass
class Answer:
    status: str  # "result", "refused" or "crash"
    text: str  # a summary of the result, or the message
    faces: int = 0


def library_answer(recognizer, case: Case) -> Answer:
    """What the library answers: ``EmotionRecognizer.predict`` (which reads through ``load_image``)
    for an image, ``fer.video.analyze_video`` for a video."""
    from fer.image import ImageError
    from fer.video import VideoError, analyze_video

    try:
        if case.video:
            summary = analyze_video(recognizer, case.path).summary()
            return Answer("result", f"{summary['analysed_frames']} frames, {len(summary['tracks'])} face(s) tracked",
                          len(summary["tracks"]))
        faces = len(recognizer.predict(case.path).faces)
        return Answer("result", f"{faces} face(s)", faces)
    except (ImageError, VideoError) as err:
        return Answer("refused", str(err))
    except Exception as err:
        return Answer("crash", f"{type(err).__name__}: {err}")


def cli_answer(record: dict) -> Answer:
    """What ``python -m fer --json`` answered for one file."""
    if record["error"]:
        return Answer("refused", record["error"])
    if record.get("video") is not None:
        video = record["video"]
        return Answer("result", f"{video['analysed_frames']} frames, {len(video['tracks'])} face(s) tracked",
                      len(video["tracks"]))
    return Answer("result", f"{len(record['faces'])} face(s)", len(record["faces"]))


def problems(case: Case, answer: Answer, folder: Path) -> list[str]:
    """What is wrong with ``answer`` for ``case`` (empty: as expected)."""
    import re

    found = []
    if answer.status == "crash":
        found.append(f"crashed: {answer.text}")
    elif case.expect == "error" and answer.status != "refused":
        found.append(f"expected a refusal, got {answer.text}")
    elif case.expect in ("face", "result") and answer.status != "result":
        found.append(f"expected a result, got: {answer.text}")
    elif case.expect == "face" and answer.faces < 1:
        found.append("expected a face, found none")
    if answer.status == "refused":
        if case.match and not re.search(case.match, answer.text):
            found.append(f"message {answer.text!r} does not match {case.match!r}")
        if re.search(LEAK, answer.text) or str(folder) in answer.text or str(folder.resolve()) in answer.text:
            found.append(f"message leaks internals or a path: {answer.text!r}")
    return found


def run_cli(cases: dict[str, Case], out: Path | None = None) -> tuple[int, list[dict], str]:
    """One ``python -m fer --json`` over every file at once: ``(exit code, records, stderr)``."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT

    command = [sys.executable, "-m", "fer", *(str(c.path) for c in cases.values()), "--json"]
    if out is not None:
        command += ["--out", str(out)]
    env = dict(os.environ, FER_MODEL="bundled", PYTHONPATH=str(ROOT))
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    records = json.loads(proc.stdout) if proc.stdout.strip().startswith("[") else []
    return proc.returncode, records, proc.stderr


def markdown_table(cases: dict[str, Case], library: dict[str, Answer], cli: dict[str, Answer]) -> str:
    lines = ["| kind | library | CLI |", "|---|---|---|"]
    for kind in cases:
        cells = [f"{a.status}: {a.text}" if a.status != "result" else a.text for a in (library[kind], cli[kind])]
        lines.append(f"| {kind} | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/bad_inputs.py: the corpus through the library and the CLI, as a table
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from fer import EmotionRecognizer

    with tempfile.TemporaryDirectory() as tmp:
        cases = corpus(Path(tmp) / "corpus")
        recognizer = EmotionRecognizer("bundled")
        library = {kind: library_answer(recognizer, case) for kind, case in cases.items()}
        _, records, _ = run_cli(cases)
        print(markdown_table(cases, library, dict(zip(cases, map(cli_answer, records)))))
