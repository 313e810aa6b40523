"""Turn whatever a user hands us (path, bytes, PIL image of any mode, numpy array) into RGB uint8."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray]


class ImageError(ValueError):
    """The input is not an image we can read; the message says why."""


def load_image(source: ImageInput) -> np.ndarray:
    """Return an ``(H, W, 3)`` uint8 RGB array.

    Files and PIL images are turned upright by their EXIF orientation; transparent pixels are
    composited onto white (a transparent background reads as black otherwise, which darkens crops).
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no such file: {path}")
        try:
            with Image.open(path) as im:
                return pil_to_rgb(im)
        except (UnidentifiedImageError, OSError) as err:
            raise ImageError(f"cannot read {path} as an image: {err}") from None
    if isinstance(source, (bytes, bytearray)):
        try:
            with Image.open(io.BytesIO(source)) as im:
                return pil_to_rgb(im)
        except (UnidentifiedImageError, OSError) as err:
            raise ImageError(f"cannot decode image bytes: {err}") from None
    if isinstance(source, Image.Image):
        return pil_to_rgb(source)
    raise ImageError(f"unsupported image input of type {type(source).__name__}")


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    elif im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale the actual range to 0-255 instead of clipping
        array = np.asarray(im, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        array = (array - low) / (high - low or 1.0) * 255.0
        return _array_to_rgb(array.round().astype(np.uint8))
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"empty image of shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if np.nanmin(array) < 0 or np.nanmax(array) > 1:
            raise ImageError("float images must hold values in [0, 1]")
        array = (np.nan_to_num(array) * 255).round().astype(np.uint8)
    elif array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageError(f"unsupported array dtype {array.dtype}; use uint8")
    if array.ndim == 2:
        return np.ascontiguousarray(np.stack([array] * 3, axis=-1))
    if array.shape[2] == 4:
        return pil_to_rgb(Image.fromarray(np.ascontiguousarray(array), "RGBA"))
    return np.ascontiguousarray(array)
