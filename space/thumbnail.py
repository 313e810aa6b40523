"""The Space's thumbnail (its card on the Hub and its social preview): ``python -m space.thumbnail``.

What the app does, shown: the two-faces example, every face boxed and labelled by the bundled fast
model (through ``fer``, as the app draws them), beside the project's name, on a 1200 x 630 card (the
size social sites show). Made here, from the project's own redistributable example photo.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
THUMBNAIL = ROOT / "thumbnail.jpg"
SIZE = (1200, 630)
BACKGROUND = (24, 28, 38)


def make_thumbnail(out: Path = THUMBNAIL) -> Path:
    from fer import EmotionRecognizer, draw_results, load_image

    photo = load_image(ROOT / "examples" / "two_faces.jpg")
    annotated = Image.fromarray(draw_results(photo, EmotionRecognizer("bundled").predict(photo), numbered=True))
    card = Image.new("RGB", SIZE, BACKGROUND)
    box = (SIZE[0] - 480, SIZE[1] - 80)  # the right side; the left keeps the name
    scale = min(box[0] / annotated.width, box[1] / annotated.height)
    annotated = annotated.resize((round(annotated.width * scale), round(annotated.height * scale)), Image.LANCZOS)
    card.paste(annotated, (SIZE[0] - annotated.width - 40, (SIZE[1] - annotated.height) // 2))
    draw = ImageDraw.Draw(card)
    left = 48
    draw.text((left, 170), "Facial emotion", fill=(255, 255, 255), font=ImageFont.load_default(size=54))
    draw.text((left, 236), "recognition", fill=(255, 255, 255), font=ImageFont.load_default(size=54))
    for i, line in enumerate(("Every face, boxed and labelled:", "angry, disgust, fear, happy,", "sad, surprise, neutral",
                              "", "CPU, offline, private")):
        draw.text((left, 330 + 34 * i), line, fill=(190, 198, 214), font=ImageFont.load_default(size=25))
    out.parent.mkdir(parents=True, exist_ok=True)
    card.save(out, quality=85, optimize=True)  # from arrays: no metadata
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m space.thumbnail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=THUMBNAIL, help=f"where to write it (default {THUMBNAIL.name})")
    path = make_thumbnail(parser.parse_args(argv).out)
    print(f"wrote {path} ({Image.open(path).width}x{Image.open(path).height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
