"""Rebuild the example images from photos bundled with matplotlib and scikit-image (run once).

``python examples/make_examples.py`` (needs ``pip install scikit-image``). See CREDITS.md.
"""

from pathlib import Path

import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).parent


def main() -> None:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = Image.open(f).convert("RGB")
    astronaut = Image.fromarray(data.astronaut())
    hopper.save(HERE / "grace_hopper.jpg", quality=90)
    astronaut.save(HERE / "astronaut.jpg", quality=90)
    # two faces side by side, at different sizes, for the several-faces case
    height = 400
    left = hopper.resize((round(hopper.width * height / hopper.height), height))
    right = astronaut.resize((round(astronaut.width * 300 / astronaut.height), 300))
    pair = Image.new("RGB", (left.width + right.width, height), (235, 235, 235))
    pair.paste(left, (0, 0))
    pair.paste(right, (left.width, height - 300))
    pair.save(HERE / "two_faces.jpg", quality=90)
    Image.fromarray(data.coffee()).save(HERE / "no_face_coffee.jpg", quality=90)
    # a mirrored, tilted copy of the portrait: alignment has to level the eyes
    tilted = hopper.rotate(20, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    Image.fromarray(np.asarray(tilted)[:, ::-1]).save(HERE / "tilted_portrait.jpg", quality=90)


if __name__ == "__main__":
    main()
