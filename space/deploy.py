"""Deploy the app as a Hugging Face Space in one command.

``python -m space.deploy --space OWNER/NAME [--model-repo OWNER/NAME --revision COMMIT] [--dry-run]``

Uploads exactly what the Space runs (``app.py`` and its ``app_webcam.js``, the ``fer`` library with its assets
(less the bundled models' ``model.keras``, which the app never loads), ``examples/``,
``requirements.txt``, ``README.md``, ``.gitattributes``, the on-device webcam's ``on_device.py``,
``web/`` and the npm files it serves, ``on_device.NPM_FILES``, as ``npm ci`` installed them from
package-lock.json) in one commit through ``huggingface_hub``,
which stores binary files through Xet/LFS by itself; files the Space holds that are no longer part of
the app are deleted in the same commit, unchanged ones are not sent again. The Space is created
(Gradio SDK) if needed. The README uploaded carries front matter naming the model repo and revision
in ``models`` and ``preload_from_hub``, so the Space downloads the weights when it is built, not when
it starts. Without ``--model-repo`` / ``--revision`` that model is ``fer.source.DEFAULT_REPO_ID`` at
the tag of its bundled weights (``fer.source.pinned_revision``; ``--write-readme`` also writes it into
this repository's README.md); another
model is also set in the Space variables ``FER_MODEL`` / ``FER_MODEL_REVISION``, which the app reads.

The token comes from ``HF_TOKEN`` or ``hf auth login``. Needs no TensorFlow.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import on_device
from fer.source import (DEFAULT_REPO_ID, FAST, HUB_ERRORS, HUB_FILES, MODELS, NOT_FOUND, WEIGHTS_TAG, first_line,
                        hub_failure)

ROOT = Path(__file__).resolve().parent.parent
# What the Space needs, relative to the repository root: files, or folders taken whole
SPACE_FILES = ["app.py", "app_webcam.js", "live_stream.py", "on_device.py", "web", "requirements.txt", "README.md", ".gitattributes",
               "fer", "examples", "thumbnail.jpg"]  # the Space's card image (python -m space.thumbnail makes it)
IGNORE = ["__pycache__", "*.pyc", ".DS_Store", ".ipynb_checkpoints", "examples/*.py",
          # the bundled models' Keras weights (20 MB): for the training tools, the app runs model.tflite
          "*.keras",
          # an export under way or interrupted (train/export.py builds model.partial/ beside fer/assets/model
          # and retires the old one as model.old/): never a model the Space should carry
          "*.partial", "*.old"]
# The model files preloaded into the Space's Hub cache at build time: fer.source.HUB_FILES,
# what the app downloads at start, or it would fetch the rest then (and fail to start on an offline
# Space); model.keras, which the app never loads, stays on the Hub.
MODEL_FILES = list(HUB_FILES)
# Front matter keys this command owns; the others (title, emoji, ...) are kept as written
MANAGED_KEYS = ("sdk_version", "models", "preload_from_hub", "thumbnail")
HUB = "https://huggingface.co"


@dataclass(frozen=True)
class Model:
    repo_id: str
    revision: str


def default_model() -> Model:
    """The app's default model, at the revision fer.source pins: what a Space needs no variables for."""
    return Model(DEFAULT_REPO_ID, MODELS[FAST].revision)


def is_pinned(revision: str) -> bool:
    """A commit, or a tag named after the weights it holds (train.push); a branch moves under the Space."""
    return bool(re.fullmatch(r"[0-9a-f]{40}", revision) or WEIGHTS_TAG.fullmatch(revision))


def space_files(root: Path | None = None) -> list[Path]:
    """The files to upload, relative to ``root`` (the repository), sorted: in a git checkout, only
    files git tracks (a photo dropped into examples/ or a stray secret is not published by accident),
    and the on-device webcam's npm files (:func:`npm_files`)."""
    root = root or ROOT
    tracked = _tracked(root)
    return sorted([p for p in _candidates(root) if tracked is None or p.as_posix() in tracked] + npm_files(root))


def npm_files(root: Path | None = None) -> list[Path]:
    """The npm files the on-device webcam's page loads (``on_device.NPM_FILES``), relative to ``root``.
    git does not track them (``npm ci`` installs them from package-lock.json); a Space has no npm, so
    the deploy carries them, and without them the Space's webcam would only offer server mode."""
    root = root or ROOT
    files = [p.relative_to(on_device.ROOT) for p in on_device.NPM_FILES]
    absent = [p.as_posix() for p in files if not (root / p).is_file()]
    if absent:
        raise SystemExit(f"the on-device webcam's npm files are not installed ({absent[0]}"
                         f"{f' and {len(absent) - 1} more' if len(absent) > 1 else ''}): run `npm ci` first")
    return files


def untracked_files(root: Path | None = None) -> list[Path]:
    """Files under the Space's folders that a deploy leaves out because git does not track them."""
    root = root or ROOT
    tracked = _tracked(root)
    return [] if tracked is None else [p for p in _candidates(root) if p.as_posix() not in tracked]


def _candidates(root: Path) -> list[Path]:
    found = []
    for entry in SPACE_FILES:
        path = root / entry
        if path.is_file():
            found.append(Path(entry))
        elif path.is_dir():
            found += [p.relative_to(root) for p in path.rglob("*") if p.is_file()]
        elif entry != ".gitattributes":
            raise SystemExit(f"{path} is missing: run from a full checkout of the repository")
    return sorted(p for p in found if not _ignored(p))


def _tracked(root: Path) -> set[str] | None:
    """The files git tracks under ``root``, or None where ``root`` is not a git checkout."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--full-name", "--", *SPACE_FILES],
                                capture_output=True, timeout=60)
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):  # no git here: the folder walk alone decides
        return None
    if listed.returncode or top.returncode or Path(top.stdout.strip()).resolve() != root.resolve():
        return None  # not a checkout, or a folder inside another repository's
    return set(listed.stdout.decode().split("\0")) - {""}


def _ignored(rel: Path) -> bool:
    text = rel.as_posix()
    hidden = any(part.startswith(".") for part in rel.parts) and text != ".gitattributes"  # .env, .cache/, ...
    return hidden or any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in IGNORE if "/" not in pattern) or any(
        fnmatch.fnmatch(text, pattern) for pattern in IGNORE if "/" in pattern
    )


def gradio_version(requirements: Path | None = None) -> str:
    """The gradio pin of the runtime requirements: the Space's ``sdk_version`` must be the same."""
    requirements = requirements or ROOT / "requirements.txt"
    for line in requirements.read_text().splitlines():
        if m := re.fullmatch(r"\s*gradio\s*(?:\[[\w,\s]*\])?\s*==\s*([^\s;#]+).*", line):  # gradio[mcp]==X too
            return m[1]
    raise SystemExit(f"{requirements} pins no gradio version (gradio==X.Y.Z)")


def managed_front_matter(model: Model, sdk_version: str, thumbnail: str | None = None) -> dict[str, str]:
    """The YAML lines of each key this command owns; ``thumbnail`` (a URL) only where a Space is named."""
    return {**({"thumbnail": f"thumbnail: {thumbnail}"} if thumbnail else {}),
        "sdk_version": f"sdk_version: {sdk_version}",
        "models": f"models:\n  - {model.repo_id}",
        # "REPO FILE,FILE REVISION": fetched into the Space's Hub cache at build time
        "preload_from_hub": f"preload_from_hub:\n  - {model.repo_id} {','.join(MODEL_FILES)} {model.revision}",
    }


def with_front_matter(readme: str, model: Model, sdk_version: str, thumbnail: str | None = None) -> str:
    """``readme`` with the managed keys of its YAML front matter set for ``model``; the rest unchanged."""
    match = re.match(r"---\n(.*?\n)---\n", readme, flags=re.S)
    if not match:
        raise SystemExit("README.md has no YAML front matter (--- ... ---); the Space needs one")
    blocks: list[tuple[str | None, str]] = []  # (top-level key or None, its text with continuation lines)
    for line in match[1].splitlines(keepends=True):
        key = re.match(r"([A-Za-z_][\w-]*):", line)
        if key or not blocks:
            blocks.append((key[1] if key else None, line))
        else:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + line)
    wanted = managed_front_matter(model, sdk_version, thumbnail)
    out = [wanted.pop(key) + "\n" if key in wanted else text for key, text in blocks]
    out += [text + "\n" for text in wanted.values()]  # managed keys not there yet
    return "---\n" + "".join(out) + "---\n" + readme[match.end():]


def write_readme(model: Model | None = None, readme: Path | None = None) -> bool:
    """Write the front matter for ``model`` (default: fer.source's) into ``readme``; True if it changed."""
    readme = readme or ROOT / "README.md"
    model = model or default_model()
    old = readme.read_text()
    new = with_front_matter(old, model, gradio_version(readme.parent / "requirements.txt"))
    if new != old:
        readme.write_text(new)
    return new != old


def space_urls(space: str, endpoint: str) -> tuple[str, str]:
    """The Space's page and, on huggingface.co, the address the app itself answers at."""
    page = f"{endpoint.rstrip('/')}/spaces/{space}"
    app = "https://" + re.sub(r"[^a-z0-9-]", "-", space.lower().replace("/", "-")) + ".hf.space"
    return page, app


def thumbnail_url(space: str, endpoint: str = HUB) -> str:
    """Where the Hub serves the Space's own thumbnail.jpg: the card's ``thumbnail`` must be a URL."""
    return f"{endpoint.rstrip('/')}/spaces/{space}/resolve/main/thumbnail.jpg"


def stage(files: list[Path], model: Model, into: Path, root: Path | None = None, thumbnail: str | None = None) -> None:
    """Copy ``files`` into ``into``, the README with front matter for ``model`` (and ``thumbnail``)."""
    root = root or ROOT
    for rel in files:
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, into / rel)
    readme = into / "README.md"
    readme.write_text(with_front_matter(readme.read_text(), model, gradio_version(root / "requirements.txt"),
                                        thumbnail if (into / "thumbnail.jpg").is_file() else None))


def deploy(space: str, model: Model, root: Path | None = None, private: bool = False, hardware: str | None = None,
           message: str | None = None) -> str:
    """Create the Space if needed, upload the app in one commit, point it at ``model``; return the commit."""
    from huggingface_hub import HfApi, get_token

    root = root or ROOT
    token = get_token()
    if token is None:
        raise SystemExit("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(token=token)
    try:  # the Space build would fail on a preload_from_hub naming nothing: check first
        api.model_info(model.repo_id, revision=model.revision)
    except NOT_FOUND as err:
        raise SystemExit(f"model {model.repo_id}@{model.revision} not found on the Hub ({first_line(err)}): "
                         "push it first with `python -m train.push`") from None
    except HUB_ERRORS as err:
        raise SystemExit(f"cannot check model {model.repo_id}@{model.revision}: {hub_failure(err)}") from None
    api.create_repo(space, repo_type="space", space_sdk="gradio", private=private, space_hardware=hardware,
                    exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fer-space-") as tmp:
        stage(space_files(root), model, Path(tmp), root, thumbnail=thumbnail_url(space, api.endpoint))
        info = api.upload_folder(
            repo_id=space,
            repo_type="space",
            folder_path=tmp,
            delete_patterns="*",  # the Space holds the app and nothing else (.gitattributes is always kept)
            commit_message=message or f"Deploy the app with {model.repo_id}@{model.revision}",
        )
    # What the app loads at run time: fer.source's default, or FER_MODEL / FER_MODEL_REVISION, set here to
    # the model of the front matter. For the default they are removed: a model named in FER_MODEL that
    # the Hub refuses stops the app, while the default one falls back to the bundled model.
    if model == default_model():
        for key in set(api.get_space_variables(space)) & {"FER_MODEL", "FER_MODEL_REVISION"}:
            api.delete_space_variable(space, key)
    else:
        api.add_space_variable(space, "FER_MODEL", model.repo_id, description="emotion model repo (space.deploy)")
        api.add_space_variable(space, "FER_MODEL_REVISION", model.revision, description="its revision (space.deploy)")
    return info.oid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m space.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", help="OWNER/NAME of the Space (created if needed)")
    parser.add_argument("--model-repo", default=DEFAULT_REPO_ID, help=f"model repo the Space loads (default {DEFAULT_REPO_ID})")
    parser.add_argument("--revision", help="its revision, a commit or tag to pin (default: the tag of the bundled "
                        "weights for the default repo, else main)")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument("--hardware", help="hardware when creating the Space, e.g. cpu-basic (the Hub's default), cpu-upgrade")
    parser.add_argument("--message", help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="list the files and their sizes, upload nothing")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the default model's front matter into this repository's README.md, upload nothing")
    args = parser.parse_args(argv)
    revision = args.revision or (default_model().revision if args.model_repo == DEFAULT_REPO_ID else "main")
    model = Model(args.model_repo, revision)

    if args.write_readme:
        changed = write_readme()
        print(f"README.md front matter {'updated' if changed else 'already up to date'}: "
              f"{DEFAULT_REPO_ID}@{default_model().revision}")
        return 0
    if not args.space or not re.fullmatch(r"[\w.-]+/[\w.-]+", args.space):
        parser.error("--space OWNER/NAME is required")

    stale = on_device.stale(ROOT)
    if stale:
        raise SystemExit(f"node_modules is not what package-lock.json pins ({'; '.join(stale)}): run `npm ci` first")
    files = space_files()
    total = sum((ROOT / p).stat().st_size for p in files)
    print(f"{'would upload' if args.dry_run else 'uploading'} to Space {args.space} "
          f"({len(files)} files, {total / 1e6:.2f} MB), model {model.repo_id}@{model.revision} preloaded at build:")
    for path in files:
        print(f"  {path.as_posix()}  ({(ROOT / path).stat().st_size / 1e6:.3f} MB)")
    left_out = untracked_files()
    if left_out:
        print(f"left out, not tracked by git ({len(left_out)}; `git add` what the Space should have): "
              + ", ".join(p.as_posix() for p in left_out[:10]) + (" ..." if len(left_out) > 10 else ""))
    if not is_pinned(model.revision):
        print(f"note: {model.revision!r} is a branch, not a pinned commit; each Space build takes what it "
              "holds then (pin with --revision COMMIT, or the weights-... tag train.push made)")
    if args.dry_run:
        return 0
    from huggingface_hub import constants

    try:
        commit = deploy(args.space, model, private=args.private, hardware=args.hardware, message=args.message)
    except HUB_ERRORS as err:
        print(f"deploy failed: {hub_failure(err)}", file=sys.stderr)
        return 1
    page, app = space_urls(args.space, constants.ENDPOINT)
    print(f"commit: {commit}")
    print(f"Space: {page}  (it builds, then starts; its logs are on that page)")
    if constants.ENDPOINT.rstrip("/") == HUB:
        print(f"app: {app}")
    print(f"API: gradio_client.Client({args.space!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
