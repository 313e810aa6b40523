"""Annotated copies of images: a box and "label 87%" per face, sized to stay legible at any scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fer.image import ImageInput, load_image
from fer.results import ImageResult

COLORS = {  # one colour per emotion, readable on photos
    "angry": (230, 25, 75),
    "disgust": (60, 180, 75),
    "fear": (145, 30, 180),
    "happy": (255, 190, 0),
    "sad": (0, 130, 200),
    "surprise": (245, 130, 48),
    "neutral": (170, 170, 170),
}


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled scalable font: no system fonts needed


@dataclass(frozen=True)
class PlacedLabel:
    """Where one face's label is drawn: its text, font size and background rectangle ``(x0, y0, x1,
    y1)`` in the image's pixels, inside the image (end-exclusive)."""

    text: str
    font_size: int
    rect: tuple[int, int, int, int]


def draw_results(image: ImageInput, result: ImageResult, numbered: bool = False,
                 numbers: Sequence[int] | None = None) -> np.ndarray:
    """Return an RGB uint8 copy of ``image`` with each face's box and top label with its confidence.

    ``image`` goes through :func:`fer.image.load_image`, as it did for the analysis, so a 16-bit,
    float or transparent input is drawn on the pixels that were analysed, not cast to uint8.

    ``numbered`` prefixes each label with the face's number (1 = first in ``result.faces``), so a
    table of faces beside the image can be read against it; ``numbers`` gives the numbers instead
    (a video's track ids, as its plot and CSV name the faces). Labels are placed by
    :func:`place_labels`: inside the image, never over another label or anyone's eyes.
    """
    canvas = Image.fromarray(load_image(image))
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    line = _line_width(width, height)
    if numbers is None and numbered:
        numbers = range(1, len(result.faces) + 1)
    for face in result.faces:
        color = face_color(face.label, face.uncertain)
        draw.rectangle(face.box, outline=color, width=max(1, line // 2) if face.uncertain else line)
    for face, label in zip(result.faces, place_labels(result.faces, (width, height), numbers)):
        color = face_color(face.label, face.uncertain)
        x0, y0, x1, y1 = label.rect
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=color)
        font = _font(label.font_size)
        left, top, _, _ = draw.textbbox((0, 0), label.text, font=font)
        pad = _pad(label.font_size)
        draw.text((x0 + pad - left, y0 + pad - top), label.text, fill=text_color(color), font=font)
    return np.asarray(canvas)


def place_labels(faces: Sequence, size: tuple[int, int], numbers: Sequence[int] | None = None) -> list[PlacedLabel]:
    """Where each face's label goes: a font sized to the face and the image (capped, so a face that
    fills a portrait gets a legible label, not one that covers it), then the first of above the box,
    below it, inside its top edge, inside its bottom edge (each slid sideways into the image) that
    stays inside the image and clear of the labels placed before it, of every face's eyes and, if it
    can, of the other faces. Faces are placed in order (the largest first, as results list them), so
    the main face gets the best place. Where nothing is clear the font shrinks, and then the label
    goes wherever nearby it overlaps least."""
    width, height = size
    line = _line_width(width, height)
    eyes = [_eye_rect(face) for face in faces]
    boxes = [tuple(face.box) for face in faces]
    placed: list[PlacedLabel] = []
    for i, face in enumerate(faces):
        text = face_label(face, None if numbers is None else numbers[i])
        others = [b for j, b in enumerate(boxes) if j != i]
        font_size = _fitting_font_size(text, _font_size(face.box, size), width)
        best = None
        while best is None:
            w, h = _text_size(text, font_size)
            candidates = [r for r in _candidate_rects(face.box, w, h, line, size) if _inside(r, size)]
            taken = [p.rect for p in placed] + eyes
            for avoid in (taken + others, taken):
                best = next((r for r in candidates if not any(_overlap(r, o) for o in avoid)), None)
                if best is not None:
                    break
            if best is None:
                if font_size > MIN_FONT:
                    font_size = max(MIN_FONT, int(font_size * 0.85))
                    continue
                # crowded beyond help: the nearby place that hides the least
                best = min(candidates or [(0, 0, min(w, width), min(h, height))], key=lambda r: sum(_overlap(r, o) for o in taken))
        placed.append(PlacedLabel(text, font_size, best))
    return placed


MIN_FONT = 9  # below this Pillow's font stops being legible


def _font_size(box, size) -> int:
    # a seventh of the face's width reads as belonging to it, within bounds set by the image (a 60th
    # to a 22nd of its short side): tiny faces in a big photo still get readable text, and a face
    # that fills a portrait no longer gets text a fifth of its width tall, over its eyes
    short = min(size)
    low, high = max(11, short / 60), max(11, short / 22)
    return int(round(min(max((box[2] - box[0]) / 7, low), high)))


def _fitting_font_size(text: str, font_size: int, width: int) -> int:
    while font_size > MIN_FONT and _text_size(text, font_size)[0] > width:
        font_size -= 1
    return font_size


def _pad(font_size: int) -> int:
    return max(2, font_size // 5)


def _text_size(text: str, font_size: int) -> tuple[int, int]:
    """The label's background size: the text's ink box plus padding on each side."""
    left, top, right, bottom = _font(font_size).getbbox(text)
    pad = _pad(font_size)
    return right - left + 2 * pad, bottom - top + 2 * pad


def _candidate_rects(box, w: int, h: int, line: int, size) -> list[tuple[int, int, int, int]]:
    x0, y0, x1, y1 = box
    tops = [y0 - line - h, y1 + line, y0 + line, y1 - line - h]  # above, below, inside top, inside bottom
    lefts = [x0, x1 - w]  # left-aligned, then right-aligned with the box
    rects = [_clamped((x, y, x + w, y + h), size, vertical=False) for y in tops for x in lefts]
    # then further away, above and below in steps of half a label: the crowd's gaps
    for step in range(1, 2 * max(1, size[1] // max(h, 1))):
        for y in (y0 - line - h - step * h // 2, y1 + line + step * h // 2):
            rects += [_clamped((x, y, x + w, y + h), size, vertical=False) for x in lefts]
    return rects


def _clamped(rect, size, vertical: bool = True):
    """``rect`` slid into the image sideways (and up or down, with ``vertical``), its size kept."""
    x0, y0, x1, y1 = rect
    dx = max(0, -x0) or min(0, size[0] - x1)
    dy = (max(0, -y0) or min(0, size[1] - y1)) if vertical else 0
    return x0 + dx, y0 + dy, x1 + dx, y1 + dy


def _inside(rect, size) -> bool:
    return rect[0] >= 0 and rect[1] >= 0 and rect[2] <= size[0] and rect[3] <= size[1]


def _overlap(a, b) -> int:
    """The area two end-exclusive rectangles share."""
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _eye_rect(face) -> tuple[int, int, int, int]:
    """The band a label must not cover: round the detector's eye keypoints where it gave them (BlazeFace:
    right eye, left eye first), else where eyes sit in a face box (about 30-55% of its height)."""
    x0, y0, x1, y1 = face.box
    w, h = x1 - x0, y1 - y0
    if len(face.keypoints) >= 2:
        (ax, ay), (bx, by) = face.keypoints[:2]
        r = 0.12 * w
        return (int(min(ax, bx) - r), int(min(ay, by) - r), int(max(ax, bx) + r) + 1, int(max(ay, by) + r) + 1)
    return (x0 + w // 8, y0 + int(0.3 * h), x1 - w // 8, y0 + int(0.55 * h))


def face_label(face, number: int | None = None) -> str:
    """A face's label as drawn: ``"happy 87%"``, ``"2: sad? 41%"`` for an uncertain face (numbered)."""
    text = f"{face.label}{'?' if face.uncertain else ''} {face.confidence:.0%}"
    return text if number is None else f"{number}: {text}"


def face_color(label: str, uncertain: bool = False) -> tuple[int, int, int]:
    """The emotion's colour; an uncertain face's muted halfway to grey, so a sure label stands out."""
    color = COLORS.get(label, (255, 255, 255))
    return tuple(round((c + 128) / 2) for c in color) if uncertain else color


def highlight_face(annotated: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of an image (as :func:`draw_results` returns it) with one face's box ringed in white,
    then black, just outside its coloured box: the face a panel beside the image describes, marked
    so that it shows on light and dark photos alike."""
    canvas = Image.fromarray(np.asarray(annotated, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    line = _line_width(*canvas.size)
    x0, y0, x1, y1 = box
    for grow, color in ((line, (255, 255, 255)), (2 * line, (0, 0, 0))):
        draw.rectangle((x0 - grow, y0 - grow, x1 + grow, y1 + grow), outline=color, width=line)
    return np.asarray(canvas)


def _line_width(width: int, height: int) -> int:
    # lines and text scale with the image, so labels are readable on a 4000 px photo and a 200 px crop
    return max(2, round(min(width, height) / 250))


def text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background`` (also the live webcam's labels, drawn by the page)."""
    # WCAG's relative luminance, above which black contrasts more than white: a brightness cut-off
    # (0.299 R + 0.587 G + 0.114 B > 140) put white on disgust's green at 2.7:1, where black has 7.8:1
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in background]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return (0, 0, 0) if luminance > 0.179 else (255, 255, 255)
