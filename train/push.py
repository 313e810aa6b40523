"""Push a model folder to the Hugging Face Hub in one commit.

``python -m train.push --model DIR --repo-id OWNER/NAME [--revision BRANCH] [--private] [--dry-run]``

The token comes from the usual places (``HF_TOKEN``, or ``hf auth login``). Prints the commit to
pin in the app (``FER_MODEL_REVISION``, or ``fer.source.DEFAULT_REVISION``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError

from fer.classifier import EmotionClassifier
from fer.config import CONFIG_NAME, TFLITE_NAME, WEIGHTS_NAME

IGNORE = [".DS_Store", "__pycache__/*", "*.pyc", ".ipynb_checkpoints/*"]


def files_to_upload(folder: Path) -> list[Path]:
    ignored = {p for pattern in IGNORE for p in folder.rglob(pattern)}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p not in ignored)


def check_model_folder(folder: Path) -> None:
    """Refuse to push anything the app could not load: missing files or weights not matching config."""
    for name in (WEIGHTS_NAME, TFLITE_NAME, CONFIG_NAME, "README.md"):  # the runtime loads the LiteRT file
        if not (folder / name).is_file():
            raise SystemExit(f"{folder} has no {name}: export it with `python -m train.export` first")
    try:
        EmotionClassifier(folder)
    except ValueError as err:
        raise SystemExit(f"{folder} does not load: {err}") from None


def push(folder: Path, repo_id: str, revision: str = "main", private: bool = False, message: str | None = None) -> str:
    """Create the repo (and branch) if needed, upload the folder in one commit, return the commit sha."""
    token = get_token()
    if token is None:
        raise SystemExit("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        revision=revision,
        commit_message=message or f"Upload {folder.name} model",
        ignore_patterns=IGNORE,
    )
    return info.oid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.push", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="model folder (model.keras, model.tflite, config.json, README.md)")
    parser.add_argument("--repo-id", required=True, help="OWNER/NAME on the Hub")
    parser.add_argument("--revision", default="main", help="branch to commit to (created if needed)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--message", help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded, upload nothing")
    args = parser.parse_args(argv)

    check_model_folder(args.model)
    files = files_to_upload(args.model)
    print(f"{'would upload' if args.dry_run else 'uploading'} to {args.repo_id}@{args.revision}:")
    for path in files:
        print(f"  {path.relative_to(args.model)}  ({path.stat().st_size / 1e6:.2f} MB)")
    if args.dry_run:
        return 0
    try:
        commit = push(args.model, args.repo_id, args.revision, args.private, args.message)
    except HfHubHTTPError as err:
        print(f"push failed: {err}", file=sys.stderr)
        return 1
    print(f"commit: {commit}")
    print(f"pin it: FER_MODEL={args.repo_id} FER_MODEL_REVISION={commit} python app.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
