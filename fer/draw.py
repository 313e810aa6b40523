"""Annotated copies of images: a box and "label 87%" per face, sized to stay legible at any scale."""

from __future__ import annotations

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


def draw_results(image: ImageInput, result: ImageResult, numbered: bool = False) -> np.ndarray:
    """Return an RGB uint8 copy of ``image`` with each face's box and top label with its confidence.

    ``image`` goes through :func:`fer.image.load_image`, as it did for the analysis, so a 16-bit,
    float or transparent input is drawn on the pixels that were analysed, not cast to uint8.

    ``numbered`` prefixes each label with the face's number (1 = first in ``result.faces``), so a
    table of faces beside the image can be read against it.
    """
    canvas = Image.fromarray(load_image(image))
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    line = _line_width(width, height)
    for number, face in enumerate(result.faces, start=1):
        x0, y0, x1, y1 = face.box
        color = face_color(face.label, face.uncertain)
        draw.rectangle((x0, y0, x1, y1), outline=color, width=max(1, line // 2) if face.uncertain else line)
        font_size = max(12, round(max(min(width, height) / 30, (x1 - x0) / 5)))
        font = _font(font_size)
        text = face_label(face, number if numbered else None)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = right - left, bottom - top
        pad = max(2, font_size // 5)
        # above the box if there is room, else inside its top edge
        ty = y0 - text_h - 2 * pad if y0 - text_h - 2 * pad >= 0 else y0
        tx = min(max(0, x0), max(0, width - text_w - 2 * pad))
        draw.rectangle((tx, ty, tx + text_w + 2 * pad, ty + text_h + 2 * pad), fill=color)
        draw.text((tx + pad - left, ty + pad - top), text, fill=text_color(color), font=font)
    return np.asarray(canvas)


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
