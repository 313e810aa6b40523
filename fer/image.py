"""Turn whatever a user hands us (path, bytes, PIL image of any mode, numpy array) into RGB uint8.

This is the one image reader of every interface (library, CLI, app), so they all accept and refuse the
same files with the same message. Its messages go to end users: they say in plain words what is
wrong and what is accepted, and never carry an exception class name, a traceback or a file path (a
server's upload folder is nobody's business). Two limits are checked before any pixel is decoded:
``MAX_FILE_BYTES`` (``FER_MAX_FILE_BYTES``) from the file's size and ``MAX_PIXELS``
(``FER_MAX_PIXELS``) from the size the header declares, so a small file declaring a huge image (a
decompression bomb) is refused before it can take the memory it asks for.
"""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, features

ImageInput = Union[str, Path, bytes, bytearray, memoryview, Image.Image, np.ndarray]

MAX_PIXELS = int(float(os.environ.get("FER_MAX_PIXELS", 50_000_000)))  # float(): "60e6" reads too
MAX_FILE_BYTES = int(float(os.environ.get("FER_MAX_FILE_BYTES", 100 * 1024 * 1024)))
ACCEPTED = "send a photo in JPEG, PNG, WebP, GIF, BMP or TIFF format"


class ImageError(ValueError):
    """The input is not an image we can read; the message says why, in words fit for an end user."""


CHANNEL_ORDERS = ("RGB", "BGR")
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def load_image(source: ImageInput, channels: str = "RGB") -> np.ndarray:
    """Return an ``(H, W, 3)`` uint8 RGB array, or raise :class:`ImageError`.

    Files and PIL images are turned upright by their EXIF orientation; transparent pixels are
    composited onto white (a transparent background reads as black otherwise, which darkens crops).
    Animations and multi-page files give their first frame.

    ``channels`` is the colour order of an array: ``"RGB"`` (Pillow, matplotlib, imageio) or ``"BGR"``
    (OpenCV's ``imread`` and ``VideoCapture``; BGRA for 4 channels). A BGR frame read as RGB swaps blue
    and red, which changes the faces found and their labels, and nothing in the pixels says which
    order they are in. Files, bytes and PIL images carry their own order and ignore it.
    """
    if channels not in CHANNEL_ORDERS:
        raise ValueError(f"channels must be 'RGB' or 'BGR', not {channels!r}")
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:  # fewer dimensions: _array_to_rgb refuses it, naming its shape
            check_pixels(source.shape[1], source.shape[0])
        if channels == "BGR" and source.ndim == 3 and source.shape[2] in (3, 4):
            source = np.concatenate([source[..., 2::-1], source[..., 3:]], axis=-1)
        return _array_to_rgb(source)
    if isinstance(source, str) and URL.match(source) and not os.path.exists(source):
        raise ImageError("this is a web address, not a file: download the image and pass the file")
    if isinstance(source, (str, Path)):
        return _decode(_read_file(Path(source)))
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_file_bytes(len(data))
        return _decode(data)
    if isinstance(source, Image.Image):
        check_pixels(*source.size)
        return _to_rgb(source)
    raise ImageError(f"unsupported input of type {type(source).__name__}; pass a file path, bytes, "
                     "a PIL image or a numpy array")


def check_pixels(width: int, height: int) -> None:
    """Refuse an image larger than ``MAX_PIXELS``, saying what the limit is."""
    if width * height > MAX_PIXELS:
        raise ImageError(f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), over "
                         f"the limit of {MAX_PIXELS / 1e6:g} megapixels; send a smaller image")


def _check_file_bytes(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ImageError(f"the file is {_bytes(size)}, over the limit of {_bytes(MAX_FILE_BYTES)}; send a smaller file")
    if size == 0:
        raise ImageError(f"the file is empty; {ACCEPTED}")


def _bytes(n: int) -> str:
    return next(f"{n / 1024**k:.3g} {unit}" for k, unit in ((3, "GB"), (2, "MB"), (1, "KB"), (0, "bytes"))
                if n >= 1024**k or unit == "bytes")


def _read_file(path: Path) -> bytes:
    try:
        if not path.exists():
            raise ImageError("no such file")
        if path.is_dir():
            raise ImageError("not a regular file: this is a folder; pass the files in it")
        if not path.is_file():  # a device or pipe that could be read forever
            raise ImageError("not a regular file")
        _check_file_bytes(path.stat().st_size)
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows after the check
    except OSError as err:  # permissions, a name too long, an I/O error: the OS's words, not its path
        raise ImageError(f"the file cannot be read ({(err.strerror or 'read error').lower()})") from None
    _check_file_bytes(len(data))
    return data


def _decode(data: bytes) -> np.ndarray:
    im = _open(data)
    if im is None:
        raise ImageError(f"{_what_it_is(data)}; {ACCEPTED}")
    with im:
        check_pixels(*im.size)  # from the header: nothing decoded yet
        pixels = _decode_deep_colour(data, im) if _deep_colour(data, im) else _decode_plain(data, im)
        return pixels if pixels is not None else _to_rgb(im)


PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every whole PNG
JPEG_END = b"\xff\xd9"


def _decode_plain(data: bytes, im: Image.ImageFile.ImageFile) -> np.ndarray | None:
    """The commonest uploads, whole upright RGB or grey JPEGs and PNGs, decoded by OpenCV, or None.

    OpenCV decodes them to the same pixels as Pillow (checked on every photo in the shared data) in
    about half the time: 4.1 vs 7.5 ms for a 640x480 PNG, a tenth of the server's work for an API
    request. Everything else goes to Pillow, whose errors give the messages: other formats and
    modes, transparency, animation, an EXIF orientation to apply, and files that do not end as a
    whole JPEG or PNG does (OpenCV would fill a cut-short file with grey instead of refusing it).
    """
    if im.mode not in ("RGB", "L") or "transparency" in im.info or getattr(im, "is_animated", False):
        return None
    if im.format == "JPEG":
        plain = data.endswith(JPEG_END) and _orientation(im) == 1
    else:  # a PNG's EXIF may follow its pixels, where Pillow reads it only by decoding them
        plain = im.format == "PNG" and data.endswith(PNG_END) and b"eXIf" not in data
    if not plain:
        return None
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    return pixels if pixels is not None and pixels.shape[:2] == (im.height, im.width) else None


def _deep_colour(data: bytes, im: Image.ImageFile.ImageFile) -> bool:
    """Whether ``im`` is a 16-bit colour PNG or TIFF, which Pillow opens as 8-bit RGB(A) by keeping
    each sample's top byte: 12-bit sensor data stored in 16 bits would come out near black."""
    if im.format == "PNG":  # IHDR: bit depth at byte 24, colour type (2 RGB, 6 RGBA) at 25
        return len(data) > 25 and data[24] == 16 and data[25] in (2, 6)
    if im.format == "TIFF" and im.mode in ("RGB", "RGBA"):
        return set(im.tag_v2.get(258, ())) == {16}  # BitsPerSample
    return False


def _decode_deep_colour(data: bytes, im: Image.ImageFile.ImageFile) -> np.ndarray | None:
    """A 16-bit colour file's pixels, stretched as a uint16 array is, turned upright; None (Pillow
    then decodes it, and its errors give the message) where OpenCV cannot decode it whole."""
    if im.format == "PNG" and not data.endswith(PNG_END):
        return None  # cut short: OpenCV would fill it with grey
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # BGR(A), EXIF ignored
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3 or pixels.shape[:2] != (im.height, im.width):
        return None
    rgb = _array_to_rgb(np.concatenate([pixels[..., 2::-1], pixels[..., 3:]], axis=-1))
    orientation = _orientation(im)
    if orientation in EXIF_TRANSPOSE:
        rgb = np.asarray(Image.fromarray(rgb).transpose(EXIF_TRANSPOSE[orientation]))
    return rgb


# what ImageOps.exif_transpose applies for each EXIF orientation, for pixels decoded outside Pillow
EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                  5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                  8: Image.Transpose.ROTATE_90}


def _open(data: bytes) -> Image.ImageFile.ImageFile | None:
    """``Image.open`` minus Pillow's own decompression-bomb check, or None if no format recognises
    ``data``.

    Pillow checks in ``Image.open`` against a process-wide ``MAX_IMAGE_PIXELS``, warning or raising
    with its own wording; :func:`check_pixels` replaces it with our limit and message, and probing the
    formats here (as ``Image.open`` does: each registered format whose ``accept`` recognises the first
    bytes tries to parse the header) avoids changing that global, which other threads share.
    """
    prefix, tried = data[:16], set()
    for loader in (Image.preinit, Image.init):
        loader()
        for fmt in [f for f in Image.ID if f not in tried]:
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            try:
                recognised = not accept or accept(prefix)
            except Exception:  # an accept() that reads more bytes than a tiny file holds (BMP wants 4)
                continue
            if not recognised or isinstance(recognised, str):  # a str is Pillow's "almost, but no"
                continue
            try:
                return factory(io.BytesIO(data), "")
            except (SyntaxError, IndexError, TypeError, struct.error):  # Pillow's "not this format"
                continue
            except Exception:  # recognised but its header is broken
                if _riff_cut_short(data):  # Pillow's WebP reader fails on a short file before it says so
                    raise ImageError(f"the image data is incomplete (the file is cut short); {ACCEPTED}") from None
                raise ImageError(f"the image header is damaged or holds oversized metadata; {ACCEPTED}") from None
    return None


def _riff_cut_short(data: bytes) -> bool:
    """Whether ``data`` is a RIFF file (WebP) shorter than the size its header gives."""
    return data[:4] == b"RIFF" and len(data) >= 8 and struct.unpack("<I", data[4:8])[0] + 8 > len(data)


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Decode (if not yet) and convert, turning every decoder failure into a plain :class:`ImageError`."""
    try:
        im.load()
    except MemoryError:
        raise ImageError("not enough memory to decode this image; send a smaller one") from None
    except Exception as err:
        if "truncated" in str(err):
            raise ImageError(f"the image data is incomplete (the file is cut short); {ACCEPTED}") from None
        if isinstance(err, Image.DecompressionBombError):  # Pillow's limit on GIF frames or TIFF tiles
            raise ImageError("the image holds a frame or tile too large to decode safely; "
                             "send a smaller image") from None
        raise ImageError(f"the image data is damaged and cannot be decoded; {ACCEPTED}") from None
    try:
        return pil_to_rgb(im)
    except ImageError:
        raise
    except Exception:
        raise ImageError(f"the image's colour format ({im.mode}) is not supported; {ACCEPTED}") from None


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    im = _upright(im)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    elif im.mode.startswith("I"):
        return _array_to_rgb(_stretched(np.asarray(im, dtype=np.float64), white=65535.0))
    elif im.mode == "F":  # as a float array: [0, 1] is scaled as such, any other range stretched
        values = np.asarray(im, dtype=np.float64)
        finite = values[np.isfinite(values)]
        in_unit_range = finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)
        return _array_to_rgb(values if in_unit_range else _stretched(values, white=float(finite.max())))
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.array(im, dtype=np.uint8)


def _upright(im: Image.Image) -> Image.Image:
    """``im`` turned as its EXIF orientation says. Photos without that tag (most) are returned as
    they are: ``exif_transpose`` would copy them, as would ``convert("RGB")`` on an RGB image, and
    those copies cost more than the rest of the conversion (2.5 ms on a 640x480 upload)."""
    if _orientation(im) == 1:
        return im
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # unreadable EXIF: the pixels are still good, only their orientation is unknown
        return im


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag, 1 (upright) when absent or unreadable."""
    try:
        return im.getexif().get(ExifTags.Base.Orientation, 1) or 1
    except Exception:
        return 1


def _what_it_is(data: bytes) -> str:
    """What a file no image format recognises seems to be, for the message."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if data.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"II*\x00", b"MM\x00*")) or data[8:12] == b"WEBP":
        return "the image is damaged or cut short"  # starts like an image its format cannot read on
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis") and features.check("avif"):
        return "the image is damaged or cut short"  # an AVIF Pillow reads, but not this one
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"):
        return "this is a HEIC/AVIF photo, which is not supported (convert it to JPEG)"
    kinds = [(data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"), "a ZIP archive"),
             (data.startswith(b"\x1f\x8b") or data.startswith(b"7z\xbc\xaf") or data.startswith(b"Rar!"), "an archive"),
             (data.startswith(b"%PDF"), "a PDF document"),
             (b"<svg" in head, "an SVG drawing (vector drawings are not supported)"),
             (b"<html" in head or head.startswith(b"<!doctype html"), "an HTML page"),
             (data[4:8] == b"ftyp" or data.startswith(b"\x1a\x45\xdf\xa3") or data[8:12] == b"AVI ", "a video")]
    for found, kind in kinds:
        if found:
            return f"this is {kind}, not a photo"
    try:
        if b"\x00" not in data[:4096]:
            data[:4096].decode("utf-8")
            return "this is a text file, not a photo"
    except UnicodeDecodeError as err:
        if err.start >= 4090:  # a multi-byte character cut at the end of the sample
            return "this is a text file, not a photo"
    return "this file is not an image in a format we can read"


def _stretched(array: np.ndarray, white: float) -> np.ndarray:
    """16-bit, 32-bit and float pixels as uint8, their actual range scaled to 0-255 rather than
    clipped or shifted (12-bit sensor data in 16 bits would otherwise be near black); NaN and
    infinities (float TIFFs) count as the darkest value. An image of one level (a blank page) has no
    range to stretch and keeps its level as a fraction of ``white``, the format's full scale."""
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    low, high = (float(array[finite].min()), float(array[finite].max())) if finite.any() else (0.0, 0.0)
    if high == low:
        return np.full(array.shape, round(min(max(low / white, 0.0), 1.0) * 255.0), dtype=np.uint8)
    array = (np.where(finite, array, low) - low) / (high - low) * 255.0
    return array.round().astype(np.uint8)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if not array.dtype.isnative:  # big-endian samples (FITS, raw buffers): the same values, in native order
        array = array.astype(array.dtype.newbyteorder("="))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"empty image of shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        values = array[~np.isnan(array)]  # NaN counts as black; infinities are out of range
        if values.size and (values.min() < 0 or values.max() > 1):
            raise ImageError("float images must hold values in [0, 1]")
        array = (np.nan_to_num(array) * 255).round().astype(np.uint8)
    elif array.dtype == np.uint16 and array.ndim == 3 and array.shape[2] == 4:
        # colour stretched on its own; alpha is opacity, a fraction of 65535, never stretched
        alpha = (array[..., 3:] / 257.0).round().astype(np.uint8)
        array = np.concatenate([_stretched(array[..., :3], white=65535.0), alpha], axis=-1)
    elif array.dtype == np.uint16:  # as 16-bit files are read
        array = _stretched(array, white=65535.0)
    elif array.dtype != np.uint8:
        raise ImageError(f"unsupported array dtype {array.dtype}; use uint8")
    if array.ndim == 2:
        return np.ascontiguousarray(np.stack([array] * 3, axis=-1))
    if array.shape[2] == 4:
        return pil_to_rgb(Image.fromarray(np.ascontiguousarray(array), "RGBA"))
    return np.ascontiguousarray(array)
