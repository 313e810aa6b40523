"""The files of a collection: image and video files from names, folders (searched recursively) and globs.

A file is named by the absolute path it was listed under, never by a symbolic link's target: its
kind comes from that name (a Hugging Face cache links ``snapshots/.../clip.mp4`` to a blob named
by its hash), and so do its result rows. Whatever cannot be analysed, or even listed, is still an
input, with the reason, so that it gets an error row rather than vanishing: a broken link, a folder
that cannot be read, a name that is not UTF-8 (Parquet strings are UTF-8; its path is stored with
the odd bytes escaped).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

NOT_UTF8 = "file name is not UTF-8 (its path is shown with the odd bytes escaped); rename it to analyse it"


def list_inputs(inputs: Iterable[str | Path]) -> dict[str, str]:
    """Files from files, folders and globs: absolute path -> why it cannot be analysed ("" when it
    can), in first occurrence order.

    Folders and globs keep only image and video files; a file named directly is always kept, so
    a broken or mistyped one gets its error row. A name or a pattern that matches nothing is kept
    too, for the same reason.
    """
    wanted = media_suffixes()
    found: dict[str, str] = {}
    for item in map(os.fspath, inputs):
        if os.path.isdir(item):
            listed = walk_folder(item, wanted)
        elif os.path.isfile(item) or not glob.has_magic(item):
            listed = {item: ""}
        else:
            matches = sorted(glob.glob(item, recursive=True))
            listed = {} if matches else {item: "no file matches this pattern"}  # a typo is said, not dropped
            for match in matches:
                if os.path.isdir(match):
                    listed.update(walk_folder(match, wanted))
                elif suffix(match) in wanted:
                    listed[match] = ""
        for name, error in listed.items():
            path, error = checked(os.path.abspath(name), error)
            found.setdefault(path, error)
    return found


def walk_folder(root: str, wanted: set[str]) -> dict[str, str]:
    """Image and video files under ``root`` (name -> reason it cannot be analysed), hidden files and
    folders left out. Links to folders are followed, each real folder once so that a link to a
    parent cannot loop; a folder that cannot be read is listed itself, with the reason."""
    found: dict[str, str] = {}
    seen: set[str] = set()

    def unreadable(err: OSError) -> None:
        found[err.filename] = f"cannot read this folder: {err.strerror}"

    for folder, folders, files in os.walk(root, onerror=unreadable, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = sorted(f for f in folders if not f.startswith("."))  # walked in this order
        found.update((os.path.join(folder, f), "") for f in sorted(files)
                     if not f.startswith(".") and suffix(f) in wanted)
    return found


def checked(path: str, error: str) -> tuple[str, str]:
    """``(path, error)`` with the problems of the name itself: not UTF-8, or a link to nothing."""
    if not is_utf8(path):
        return escaped(path), NOT_UTF8
    if not error and os.path.islink(path) and not os.path.exists(path):
        return path, f"broken symbolic link: its target {escaped(os.readlink(path))} does not exist"
    return path, error


def is_utf8(name: str) -> bool:
    """False for a name holding bytes that are not UTF-8 (Python decodes them to lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escaped(name: str) -> str:
    """``name`` with each byte that is not UTF-8 written as ``\\xNN``: storable, and still telling."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def media_suffixes() -> set[str]:
    from fer.video import VIDEO_SUFFIXES

    return image_suffixes() | VIDEO_SUFFIXES


def image_suffixes() -> set[str]:
    """Every extension Pillow can open, so a folder walk takes what :func:`fer.load_image` reads;
    not those of formats it can only write (PDF, Palm), or every consent.pdf would be an error row."""
    from PIL import Image

    readable = {ext.lower() for ext, format in Image.registered_extensions().items() if format in Image.OPEN}
    return readable | {".mpo"}  # a camera's multi-picture JPEG: Pillow's JPEG reader opens it, as MPO


def suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def is_video(path: str) -> bool:
    from fer.video import VIDEO_SUFFIXES

    return suffix(path) in VIDEO_SUFFIXES
