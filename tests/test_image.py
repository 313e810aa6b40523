import io

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


def test_arrays_grayscale_float_and_bytes(tmp_path):
    gray = np.full((5, 6), 7, dtype=np.uint8)
    assert np.array_equal(load_image(gray), np.full((5, 6, 3), 7))
    assert load_image(np.ones((5, 6, 1), dtype=np.float32))[0, 0, 0] == 255
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(buf, format="PNG")
    assert tuple(load_image(buf.getvalue())[1, 2]) == (1, 2, 3)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4, 3), np.uint8), np.full((2, 2), 3.0), np.zeros((2, 2), np.int64), 42],
)
def test_bad_inputs_raise_clear_errors(bad):
    with pytest.raises(ImageError):
        load_image(bad)


def test_unreadable_files_raise_image_error(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(junk)
