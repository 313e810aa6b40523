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


def without_duration(webm: Path) -> Path:
    """The WebM with its Duration element blanked into a Void element of the same size, as a
    browser's MediaRecorder writes its files (recorded live, the length is not known up front)."""
    data = bytearray(webm.read_bytes())
    at = data.find(b"\x44\x89\x88")  # Duration's ID and a size of 8 bytes (a float64)
    assert at > 0, "no 8-byte Duration element in this WebM"
    data[at : at + 11] = b"\xec\x89" + bytes(9)  # Void (ID 0xEC) holding 9 bytes: the same 11 bytes
    webm.write_bytes(bytes(data))
    return webm
