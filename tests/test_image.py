import io
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from fer.image import ImageError, load_image


def test_pil_modes_become_rgb_uint8():
    for mode in ["RGB", "L", "P", "RGBA", "LA", "CMYK", "I;16", "1"]:
        im = Image.new(mode, (20, 10))
        out = load_image(im)
        assert out.shape == (10, 20, 3) and out.dtype == np.uint8, mode


def test_transparent_pixels_become_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black
    rgba[0, 0] = (255, 0, 0, 255)  # one opaque red pixel
    out = load_image(Image.fromarray(rgba, "RGBA"))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[1, 1]) == (255, 255, 255)
    assert np.array_equal(load_image(rgba), out)


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 10, 20))  # white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif.tobytes())
    out = load_image(path)
    assert out.shape[:2] == (40, 20)  # upright: portrait
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the stripe is now on top


def _encoded(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def test_plain_jpegs_and_pngs_take_opencv_and_give_pillows_pixels(monkeypatch):
    import fer.image

    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    plain = {"RGB JPEG": _encoded(photo, "JPEG", quality=90), "grey JPEG": _encoded(photo.convert("L"), "JPEG"),
             "progressive JPEG": _encoded(photo, "JPEG", progressive=True), "RGB PNG": _encoded(photo, "PNG"),
             "grey PNG": _encoded(photo.convert("L"), "PNG")}
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down: Pillow turns it
    other = {"turned JPEG": _encoded(photo, "JPEG", exif=exif.tobytes()), "RGBA PNG": _encoded(photo.convert("RGBA"), "PNG"),
             "palette PNG": _encoded(photo.convert("P"), "PNG"), "WebP": _encoded(photo, "WEBP"),
             "JPEG with bytes after its end": _encoded(photo, "JPEG") + b"trailing"}
    decoded, real_decode = [], fer.image._decode_plain

    def spy(data, im):
        decoded.append(real_decode(data, im))
        return decoded[-1]

    monkeypatch.setattr(fer.image, "_decode_plain", spy)
    for name, data in {**plain, **other}.items():
        decoded.clear()
        out = load_image(data)
        pillow = fer.image._to_rgb(fer.image._open(data))
        assert np.array_equal(out, pillow), name
        assert (decoded[0] is not None) == (name in plain), name


def test_arrays_grayscale_float_and_bytes(tmp_path):
    gray = np.full((5, 6), 7, dtype=np.uint8)
    assert np.array_equal(load_image(gray), np.full((5, 6, 3), 7))
    assert load_image(np.ones((5, 6, 1), dtype=np.float32))[0, 0, 0] == 255
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(buf, format="PNG")
    assert tuple(load_image(buf.getvalue())[1, 2]) == (1, 2, 3)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4, 3), np.uint8), np.full((2, 2), 3.0), np.zeros((2, 2), np.int64), 42,
     np.array(7, np.uint8)],  # 0-d: no shape to read a size from
)
def test_bad_inputs_raise_clear_errors(bad):
    with pytest.raises(ImageError):
        load_image(bad)


def test_unreadable_files_raise_image_error(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="text file, not a photo"):
        load_image(junk)
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="no such file"):
        load_image("photo\x00.jpg")
    with pytest.raises(ImageError, match="cannot be read .file name too long"):
        load_image(tmp_path / ("x" * 300 + ".jpg"))


def test_pixel_limit_is_checked_before_decoding_for_every_input(monkeypatch):
    from bad_inputs import png_bomb

    monkeypatch.setattr("fer.image.MAX_PIXELS", 1000)
    data = png_bomb(50, 40)  # 2000 pixels
    for source in [data, Image.open(io.BytesIO(data)), np.zeros((40, 50, 3), np.uint8)]:
        with pytest.raises(ImageError, match=r"50 x 40 pixels .* over the limit of 0.001 megapixels"):
            load_image(source)
    assert load_image(png_bomb(40, 25)).shape == (25, 40, 3)  # at the limit: read


def test_bombs_never_reach_pillows_check_or_its_warning():
    from bad_inputs import png_bomb

    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would raise here
        for width, height in [(10_000, 10_000), (20_000, 20_000)]:  # Pillow: warning, then its error
            with pytest.raises(ImageError, match=f"{width} x {height} pixels .* limit of 50 megapixels") as err:
                load_image(png_bomb(width, height, bit_depth=1))
            assert "Error" not in str(err.value) and "bomb" not in str(err.value)
    assert Image.MAX_IMAGE_PIXELS == before


def test_file_size_limit_is_checked_before_reading(monkeypatch, tmp_path):
    monkeypatch.setattr("fer.image.MAX_FILE_BYTES", 1024)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * 2048)
    with pytest.raises(ImageError, match=r"the file is 2 KB, over the limit of 1 KB"):
        load_image(big)
    with pytest.raises(ImageError, match="over the limit"):
        load_image(b"\xff" * 2048)


def test_messages_name_no_path_and_no_internals(tmp_path):
    secret = tmp_path / "private_folder"
    secret.mkdir()
    cases = {"missing.jpg": None, "empty.png": b"", "cut.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF", "junk.gif": b"GIF89a"}
    for name, data in cases.items():
        if data is not None:
            (secret / name).write_bytes(data)
        with pytest.raises(ImageError) as err:
            load_image(secret / name)
        assert "private_folder" not in str(err.value) and name not in str(err.value)
        assert not re.search(r"Error\b|Exception|Traceback|File \"", str(err.value)), str(err.value)
        assert err.value.__context__ is None or err.value.__suppress_context__  # no chained traceback


def test_float_images_with_nan_and_constant_16_bit():
    floats = np.full((4, 4), 0.5, np.float32)
    floats[0, 0] = np.nan
    floats[1, 1] = 2.0
    out = load_image(Image.fromarray(floats))
    assert out[0, 0, 0] == 0 and out[1, 1, 0] == 255
    # flat: nothing to stretch, so the level is kept as a fraction of 16-bit white (not made black)
    assert (load_image(Image.new("I;16", (3, 3), 700)) == round(700 / 65535 * 255)).all()
    assert (load_image(np.full((3, 3), 65535, np.uint16)) == 255).all()  # a white page stays white


def test_float_images_in_0_to_1_read_the_same_as_pil_images_and_arrays():
    levels = np.linspace(0.4, 0.6, 5, dtype=np.float32)[None].repeat(2, 0)
    assert np.array_equal(load_image(Image.fromarray(levels, "F")), load_image(levels))
    assert load_image(levels)[0, 0, 0] == round(0.4 * 255)  # scaled, not stretched to 0-255


def test_16_bit_rgba_stretches_its_colour_and_keeps_its_alpha():
    twelve_bit = np.linspace(0, 4095, 64, dtype=np.uint16).reshape(8, 8)
    rgb = np.stack([twelve_bit] * 3, axis=-1)
    opaque = np.concatenate([rgb, np.full((8, 8, 1), 65535, np.uint16)], axis=-1)
    assert np.array_equal(load_image(opaque), load_image(rgb))  # an opaque alpha changes nothing
    clear = opaque.copy()
    clear[..., 3] = 0
    assert (load_image(clear) == 255).all()  # fully transparent: the white background


def test_16_bit_arrays_read_as_16_bit_files_do():
    twelve_bit = np.linspace(0, 4095, 64, dtype=np.uint16).reshape(8, 8)  # a sensor's 12 bits in 16
    from_array, from_file = load_image(twelve_bit), load_image(Image.fromarray(twelve_bit))
    assert np.array_equal(from_array, from_file) and from_array.max() == 255  # not shifted to near black


def test_an_opencv_array_is_read_as_bgr_when_told():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    bgr, bgra = rgb[..., ::-1].copy(), np.dstack([rgb[..., ::-1], np.full((4, 5), 255, np.uint8)])
    assert np.array_equal(load_image(bgr, channels="BGR"), rgb)
    assert np.array_equal(load_image(bgra, channels="BGR"), rgb)  # opaque BGRA, as cv2.IMREAD_UNCHANGED gives
    assert np.array_equal(load_image(bgr), bgr)  # by default an array is RGB: taken as it is
    grey = rgb[..., 0]
    assert np.array_equal(load_image(grey, channels="BGR"), load_image(grey))  # one channel has no order
    with pytest.raises(ValueError, match="'RGB' or 'BGR'"):
        load_image(rgb, channels="bgr ")


def _png_with_exif_orientation(png: bytes, orientation: int) -> bytes:
    """``png`` with an eXIf chunk (before its pixels) giving ``orientation``."""
    import struct
    import zlib

    exif = Image.Exif()
    exif[0x0112] = orientation
    body = exif.tobytes()[6:]  # a PNG's eXIf holds the TIFF structure, without JPEG's "Exif\0\0"
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    ihdr_end = 8 + 25  # signature, then IHDR: length, type, 13 bytes, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_16_bit_colour_files_read_as_16_bit_colour_arrays_do(suffix):
    """Pillow opens 16-bit colour as 8-bit by its top byte: 12 bits in 16 would come out near black."""
    import cv2

    rng = np.random.default_rng(1)
    twelve_bit = rng.integers(0, 4096, (6, 9, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(suffix, twelve_bit[..., ::-1])  # OpenCV writes BGR
    from_file = load_image(encoded.tobytes())
    assert np.array_equal(from_file, load_image(twelve_bit)) and from_file.max() == 255
    with_alpha = np.concatenate([twelve_bit, np.full((6, 9, 1), 65535, np.uint16)], axis=-1)
    ok, encoded = cv2.imencode(suffix, with_alpha[..., [2, 1, 0, 3]])
    assert np.array_equal(load_image(encoded.tobytes()), load_image(twelve_bit))


def test_a_16_bit_colour_png_is_turned_upright_and_refused_when_cut_short():
    import cv2

    image = np.zeros((20, 40, 3), np.uint16)
    image[:, :10] = 4095  # a bright stripe on the left
    ok, encoded = cv2.imencode(".png", image)
    png = _png_with_exif_orientation(encoded.tobytes(), 6)  # 6: turn 90 degrees clockwise to view
    upright = load_image(png)
    assert upright.shape == (40, 20, 3) and upright[:10].min() == 255 and upright[10:].max() == 0  # stripe on top
    with pytest.raises(ImageError, match="cut short"):
        load_image(png[: len(png) - 30])


def test_big_endian_arrays_read_as_native_ones():
    twelve_bit = np.linspace(0, 4095, 64, dtype=np.uint16).reshape(8, 8)
    assert np.array_equal(load_image(twelve_bit.astype(">u2")), load_image(twelve_bit))
    assert np.array_equal(load_image(np.full((2, 2), 0.5, ">f4")), load_image(np.full((2, 2), 0.5, np.float32)))


def test_an_all_nan_float_image_is_black_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (load_image(np.full((3, 3), np.nan)) == 0).all()
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load_image(np.array([[0.5, np.inf]]))


def test_a_web_address_and_a_folder_are_told_apart_from_a_missing_file(tmp_path):
    for address in ("https://example.com/photo.jpg", "file:///tmp/photo.jpg"):
        with pytest.raises(ImageError, match="web address, not a file"):
            load_image(address)
    with pytest.raises(ImageError, match="this is a folder"):
        load_image(tmp_path)


def test_a_damaged_avif_is_called_damaged_not_unsupported():
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow reads no AVIF")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 50, 50)).save(buffer, format="AVIF")
    data = buffer.getvalue()
    assert load_image(data).shape == (64, 64, 3)
    with pytest.raises(ImageError, match="damaged or cut short"):
        load_image(data[: len(data) // 2])
