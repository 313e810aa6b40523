"""The files of a collection: image and video files from names, folders (searched recursively) and globs."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path


def list_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """Files (absolute paths, first occurrence order) from files, folders and globs.

    Folders and globs keep only image and video files; a file named directly is always kept, so
    a broken or mistyped one gets its error row. A name that matches nothing is kept too, for the
    same reason.
    """
    from fer.video import VIDEO_SUFFIXES

    wanted = image_suffixes() | VIDEO_SUFFIXES
    found: dict[str, None] = {}  # ordered set
    for item in map(str, inputs):
        path = Path(item)
        if path.is_dir():
            names = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file() or not glob.has_magic(item):
            names = [path]
        else:
            names = []
            for match in sorted(glob.glob(item, recursive=True)):
                names.extend(list_inputs([match]) if Path(match).is_dir() else
                             [Path(match)] if Path(match).suffix.lower() in wanted else [])
        for name in names:
            found.setdefault(str(Path(name).resolve()), None)
    return list(found)


def image_suffixes() -> set[str]:
    """Every extension Pillow can open, so a folder walk takes what :func:`fer.load_image` reads."""
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def is_video(path: str) -> bool:
    from fer.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES
