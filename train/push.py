"""Push a model folder to the Hugging Face Hub in one commit.

``python -m train.push --model DIR --repo-id OWNER/NAME [--revision BRANCH] [--private] [--dry-run]``

The token comes from the usual places (``HF_TOKEN``, or ``hf auth login``). The commit is tagged
``weights-<12 hex digits>`` after its LiteRT file and settings: the revision the app pins for a
named model whose bundled copy is this model (``fer.source.weights_tag``). Prints the commit and the tag.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token

from fer.classifier import EmotionClassifier, sha256_of
from fer.config import CONFIG_NAME, TFLITE_NAME, WEIGHTS_NAME, ModelConfig
from fer.source import HUB_ERRORS, hub_failure, weights_tag

REQUIRED = (WEIGHTS_NAME, TFLITE_NAME, CONFIG_NAME, "README.md")  # the runtime loads the LiteRT file


def _is_junk(rel: Path) -> bool:
    """Never part of a model repo, at any depth: hidden files and folders (.DS_Store,
    .ipynb_checkpoints, the .cache/huggingface a download into the folder leaves) and Python caches."""
    return any(part.startswith(".") or part == "__pycache__" for part in rel.parts) or rel.suffix == ".pyc"


def files_to_upload(folder: Path) -> list[Path]:
    """The folder's files, relative to it, junk left out: the dry run lists exactly what a push sends."""
    found = (p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    return sorted(rel for rel in found if not _is_junk(rel))


def check_model_folder(folder: Path) -> None:
    """Refuse to push anything the app could not load: missing files or weights not matching config."""
    for name in REQUIRED:
        if not (folder / name).is_file():
            raise SystemExit(f"{folder} has no {name}: export it with `python -m train.export` first")
    try:
        config = ModelConfig.load(folder)
        # both weight files, as config.json describes them: a model.keras replaced after export (a
        # checkpoint copied over it) would reach the Hub beside a config and a LiteRT file of other weights
        _check_sha256(folder / WEIGHTS_NAME, config.weights_sha256, "weights_sha256")
        # without its recorded sha256 the runtime could not tell a corrupt download of the LiteRT file;
        # with it, EmotionClassifier compares the file with it, as at every load
        _recorded(config.metrics.get("tflite", {}).get("sha256"), TFLITE_NAME, "metrics.tflite.sha256")
        EmotionClassifier(folder)
    except ValueError as err:
        raise SystemExit(f"{folder} does not load: {err}") from None


def _recorded(recorded: str | None, name: str, key: str) -> str:
    if not recorded:
        raise ValueError(f"its {CONFIG_NAME} records no sha256 of {name} ({key}): export it again "
                         "with `python -m train.export`")
    return recorded


def _check_sha256(path: Path, recorded: str | None, key: str) -> None:
    recorded = _recorded(recorded, path.name, key)
    actual = sha256_of(path)
    if actual != recorded:
        raise ValueError(f"{path.name} does not match the sha256 in its {CONFIG_NAME} ({key}: "
                         f"{actual[:12]} != {recorded[:12]}): export it again with `python -m train.export`")


def push(folder: Path, repo_id: str, revision: str = "main", private: bool = False,
         message: str | None = None) -> tuple[str, str]:
    """Create the repo (and branch) if needed, upload the folder in one commit, tag that commit after
    its weights; return the commit sha and the tag."""
    token = get_token()
    if token is None:
        raise SystemExit("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    # the files listed, one operation each (upload_folder would filter the folder again by its own
    # rules, which differ from the listing's: a plots/.DS_Store it lists as ignored would go)
    operations = [CommitOperationAdd(path_in_repo=rel.as_posix(), path_or_fileobj=folder / rel)
                  for rel in files_to_upload(folder)]
    info = api.create_commit(repo_id, operations, commit_message=message or f"Upload {folder.name} model",
                             revision=revision, repo_type="model")
    tag = weights_tag(ModelConfig.load(folder))
    # a tag that exists already names an earlier commit of this very model: it stays where it is
    api.create_tag(repo_id, tag=tag, revision=info.oid, tag_message=message, exist_ok=True, repo_type="model")
    return info.oid, tag


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
    for rel in files:
        print(f"  {rel.as_posix()}  ({(args.model / rel).stat().st_size / 1e6:.2f} MB)")
    if args.dry_run:
        return 0
    try:
        commit, tag = push(args.model, args.repo_id, args.revision, args.private, args.message)
    except HUB_ERRORS as err:
        print(f"push failed: {hub_failure(err)}", file=sys.stderr)
        return 1
    print(f"commit: {commit}")
    print(f"tag: {tag} (the revision fer.source pins while its bundled copy holds these weights)")
    print(f"or pin the commit: FER_MODEL={args.repo_id} FER_MODEL_REVISION={commit} python app.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
