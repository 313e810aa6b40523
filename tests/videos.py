"""Short test videos made from a redistributable face photo (the project's own examples)."""

from pathlib import Path

import cv2
import numpy as np

from conftest import EXAMPLES


def face_video(path: Path, frames: int = 12, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """The Grace Hopper portrait panning slowly across a grey frame: VP8 for ``.webm`` (plays in
    browsers), mp4v otherwise."""
    face = cv2.imread(str(EXAMPLES / "grace_hopper.jpg"))
    w, h = size
    face = cv2.resize(face, (int(face.shape[1] * h * 0.8 / face.shape[0]), int(h * 0.8)))
    fourcc = "VP80" if path.suffix == ".webm" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(frames):
        frame = np.full((h, w, 3), 128, np.uint8)
        x = 10 + i * 3
        frame[20 : 20 + face.shape[0], x : x + face.shape[1]] = face[:, : w - x]
        writer.write(frame)
    writer.release()
    return path


def two_face_video(path: Path, frames: int = 8, fps: float = 10.0) -> Path:
    """Two people side by side, the left one larger, both still: an MP4 (mp4v, MPEG-4 Part 2, as
    OpenCV writes it) unless ``path`` ends in ``.webm``."""
    face = cv2.imread(str(EXAMPLES / "grace_hopper.jpg"))
    big, small = cv2.resize(face, (220, 258)), cv2.resize(face, (180, 211))
    fourcc = "VP80" if path.suffix == ".webm" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (560, 300))
    for i in range(frames):
        frame = np.full((300, 560, 3), 128, np.uint8)
        frame[20:278, 30:250] = big
        frame[60:271, 340:520] = small
        frame[-4:, :4] = i * 40 % 256
        writer.write(frame)
    writer.release()
    return path


def without_duration(webm: Path) -> Path:
    """The WebM with its Duration element blanked into a Void element of the same size, as a
    browser's MediaRecorder writes its files (recorded live, the length is not known up front)."""
    data = bytearray(webm.read_bytes())
    at = data.find(b"\x44\x89\x88")  # Duration's ID and a size of 8 bytes (a float64)
    assert at > 0, "no 8-byte Duration element in this WebM"
    data[at : at + 11] = b"\xec\x89" + bytes(9)  # Void (ID 0xEC) holding 9 bytes: the same 11 bytes
    webm.write_bytes(bytes(data))
    return webm


def variable_timing(webm: Path, times_ms: list[int]) -> Path:
    """The WebM with its frames at ``times_ms`` and no frame duration in its track, as a browser's
    MediaRecorder writes frames when they come (its files have no frame rate: OpenCV reports 1000)."""
    data = bytearray(webm.read_bytes())
    times = iter(times_ms)
    for element, head, start, end in _ebml(data, 0, len(data)):
        if element != 0x18538067:  # Segment
            continue
        for element, head, start, end in _ebml(data, start, end):
            children = list(_ebml(data, start, end)) if element in (0x1654AE6B, 0x1F43B675) else []  # Tracks, Cluster
            base = next((int.from_bytes(data[s:e], "big") for i, _, s, e in children if i == 0xE7), 0)  # Timecode
            for child, _, s, e in children:
                if child == 0xAE:  # TrackEntry: its DefaultDuration becomes a Void element of the same size
                    for grandchild, h, _, e2 in _ebml(data, s, e):
                        if grandchild == 0x23E383:
                            data[h:e2] = b"\xec" + bytes([0x80 | (e2 - h - 2)]) + bytes(e2 - h - 2)
                if child == 0xA3:  # SimpleBlock: track number (1 byte), then its time in the cluster
                    data[s + 1 : s + 3] = (next(times) - base).to_bytes(2, "big", signed=True)
    webm.write_bytes(bytes(data))
    return webm


def _ebml(data: bytearray, pos: int, end: int):
    """``(id, head, start, end)`` of each EBML element in ``data[pos:end]``: an ID and a size, each a
    variable-length integer whose first byte's leading zeros say how many more bytes it has."""
    while pos < end:
        head = pos
        length = 9 - data[pos].bit_length()
        element, pos = int.from_bytes(data[pos : pos + length], "big"), pos + length
        length = 9 - data[pos].bit_length()
        size, pos = int.from_bytes(data[pos : pos + length], "big") & ((1 << 7 * length) - 1), pos + length
        yield element, head, pos, pos + size
        pos += size
