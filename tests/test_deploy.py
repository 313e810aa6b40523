"""space.deploy: the files a Space gets, its README front matter, .gitattributes, and a deploy end to end
against the loopback Hub (create, upload with binaries through LFS, read back, redeploy one change)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, hf_hub_download

import on_device

from fer.source import BUNDLED_MODEL, DEFAULT_REPO_ID, FAST, HUB_FILES, MODELS
from hub_server import FakeHub, is_binary
from test_source import _reload_hub_constants
from space import deploy
from space.deploy import MODEL_FILES, Model, default_model, main as deploy_main, space_files, with_front_matter

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_test_token"
SPACE = "test/space"
DEFAULT_REVISION = MODELS[FAST].revision  # the tag train.push gives the bundled weights
# huggingface_hub's LFS upload hands httpx a file object as data=; harmless
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A loopback Hub that, like the real one, takes binary files only through LFS."""
    fake = FakeHub(token=TOKEN, lfs=True)
    server, url = fake.start()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    _reload_hub_constants(monkeypatch, url, tmp_path / "hub-cache")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_DISABLE_XET", True)  # Xet needs a CAS server: the client's LFS path instead
    yield fake
    server.shutdown()


def model_files() -> dict[str, bytes]:
    return {name: (BUNDLED_MODEL / name).read_bytes() for name in MODEL_FILES}


# --- what is uploaded -------------------------------------------------------------------------------

def test_space_gets_the_app_library_assets_examples_and_nothing_else():
    files = {p.as_posix() for p in space_files()}
    for needed in ("app.py", "app_webcam.js", "requirements.txt", "README.md", ".gitattributes", "fer/__init__.py",
                   "fer/source.py", "fer/assets/model/model.tflite", "fer/assets/model/config.json",
                   "fer/assets/face_detection/face_detection_short_range.tflite", "examples/two_faces.jpg"):
        assert needed in files
    assert not any(f.split("/")[0] in ("tests", "train", "space", "benchmarks", ".ci", ".venv", "runs") for f in files)
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    assert not any(f.startswith("requirements-") for f in files)  # training / dev packages stay out
    assert not any(f.endswith(".keras") for f in files)  # the app runs model.tflite; 20 MB it never reads


def test_space_gets_the_on_device_webcams_npm_files_and_no_more_of_node_modules():
    """A Space has no npm: the deploy carries the files the page loads (on_device.NPM_FILES), not the
    whole packages (their source maps, CommonJS builds and unused WASM builds)."""
    npm = [p for p in space_files() if p.parts[0] == "node_modules"]
    assert npm == sorted(p.relative_to(on_device.ROOT) for p in on_device.NPM_FILES)
    names = {p.as_posix() for p in npm}
    assert {"node_modules/@mediapipe/tasks-vision/wasm/vision_wasm_internal.wasm",
            "node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm"} <= names
    assert not any(n.endswith((".map", ".cjs")) or "threaded" in n or "_module_" in n for n in names)
    assert sum((ROOT / p).stat().st_size for p in npm) < 50e6


def test_a_deployed_space_has_every_file_the_on_device_webcam_needs(tmp_path):
    """The Space's copy of the app, staged as the deploy stages it, finds its on-device files where
    on_device.py looks (so its Webcam tab offers "on this device"), and they are the installed ones."""
    deploy.stage(space_files(), default_model(), tmp_path)
    code = "import json, on_device; print(json.dumps([on_device.missing(), sorted(on_device.files(on_device.ROOT / 'fer/assets/model'))]))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    missing, roles = json.loads(result.stdout)
    assert missing == [] and {"visionModule", "litertModule", "model", "config"} <= set(roles)
    for rel in deploy.npm_files():
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes()


def test_the_app_serves_a_hub_snapshots_model_files_and_nothing_else_of_it(tmp_path):
    """A Hub snapshot's files are links into the cache's blobs/ (outside the snapshot), and Gradio
    resolves each requested path before checking it against the paths it may serve: the page's
    model.tflite and config.json must pass that check at their snapshot URLs, the card must not."""
    from gradio.utils import is_allowed_file

    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc123"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    for name in ("model.tflite", "config.json", "README.md"):
        (blobs / f"sha-{name}").write_bytes(b"x")
        (snapshot / name).symlink_to(Path("../..") / "blobs" / f"sha-{name}")
    allowed = on_device.static_paths([snapshot])
    files = on_device.files(snapshot)
    for role in ("model", "config"):
        path = Path(files[role].removeprefix(on_device.URL_PREFIX))
        assert path.parent == snapshot and is_allowed_file(path, [], allowed, [])[0], role
    assert not is_allowed_file(snapshot / "README.md", [], allowed, [])[0]
    # the folder itself, as it was served before: Gradio refused the linked files
    assert not is_allowed_file(snapshot / "model.tflite", [], [snapshot.resolve()], [])[0]


def test_deploy_refuses_without_the_npm_files_or_with_stale_ones(tmp_path, monkeypatch, capsys):
    root = tmp_path / "repo"
    for rel in space_files():
        if rel.parts[0] != "node_modules":
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"")
    with pytest.raises(SystemExit, match=r"npm files are not installed \(node_modules/@.* and 13 more\): run `npm ci`"):
        space_files(root)
    # installed, but not the versions package-lock.json pins (npm install of another version, no npm ci)
    for rel in deploy.npm_files():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((ROOT / rel).read_bytes())
    (root / "package-lock.json").write_bytes((ROOT / "package-lock.json").read_bytes())
    assert on_device.stale(root) == []
    manifest = root / "node_modules/@litertjs/core/package.json"
    manifest.write_text(manifest.read_text().replace('"version": "', '"version": "0.0.1-', 1))
    assert on_device.stale(root) == [f"@litertjs/core installed 0.0.1-{_version('@litertjs/core')}, "
                                     f"locked {_version('@litertjs/core')}"]
    monkeypatch.setattr(deploy, "ROOT", root)
    with pytest.raises(SystemExit, match="not what package-lock.json pins .*@litertjs/core.*run `npm ci`"):
        deploy_main(["--space", SPACE, "--dry-run"])


def _version(package: str) -> str:
    return json.loads((ROOT / "node_modules" / package / "package.json").read_text())["version"]


def test_an_interrupted_export_stays_out_of_the_space(tmp_path):
    """train.export builds fer/assets/model.partial/ and retires model.old/; a killed export leaves them."""
    for rel in space_files():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    for leftover in ("fer/assets/model.partial/model.tflite", "fer/assets/model.old/config.json"):
        (tmp_path / leftover).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / leftover).write_bytes(b"x")
    files = {p.as_posix() for p in space_files(tmp_path)}
    assert "fer/assets/model/model.tflite" in files
    assert not any(".partial/" in f or ".old/" in f for f in files)


def test_dry_run_lists_files_and_sizes_and_touches_no_network(capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert deploy_main(["--space", SPACE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would upload to Space {SPACE}" in out and f"{DEFAULT_REPO_ID}@{DEFAULT_REVISION}" in out
    assert "  app.py  (" in out and "  fer/assets/model/model.tflite  (5.2" in out and " MB)" in out
    assert "tests/" not in out and "train/" not in out and "space/" not in out


def test_dry_run_command_needs_no_tensorflow():
    """`python -m space.deploy --space test/space --dry-run`, with TensorFlow and Keras made unimportable."""
    code = ("import runpy, sys; sys.modules.update(tensorflow=None, keras=None); "
            "sys.argv = ['space.deploy', '--space', 'test/space', '--dry-run']; "
            "runpy.run_module('space.deploy', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "fer/assets/model/model.tflite" in result.stdout and "examples/two_faces.jpg" in result.stdout


def test_space_is_required():
    with pytest.raises(SystemExit):
        deploy_main(["--dry-run"])


# --- README front matter ----------------------------------------------------------------------------

def test_repository_readme_names_the_default_model_for_build_time_download():
    """README.md is what the Space reads: it must preload fer.source's model (`--write-readme` fixes this)."""
    meta = front_matter((ROOT / "README.md").read_text())
    assert meta["models"] == [DEFAULT_REPO_ID]
    repo, files, revision = meta["preload_from_hub"][0].split(" ")
    assert (repo, revision) == (DEFAULT_REPO_ID, DEFAULT_REVISION), \
        "the bundled weights changed: run `python -m space.deploy --write-readme`"
    assert set(files.split(",")) == set(HUB_FILES)  # what the app downloads at start, no more
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert str(meta["sdk_version"]) == deploy.gradio_version()  # what the Space installs = requirements.txt
    assert with_front_matter((ROOT / "README.md").read_text(), Model(DEFAULT_REPO_ID, DEFAULT_REVISION),
                             deploy.gradio_version()) == (ROOT / "README.md").read_text()


def test_the_space_card_has_tags_people_search_for_hardware_and_a_thumbnail_made_here(tmp_path):
    from PIL import Image

    from space.thumbnail import SIZE, make_thumbnail

    meta = front_matter((ROOT / "README.md").read_text())
    assert {"emotion-recognition", "facial-expression-recognition", "mcp-server"} <= set(meta["tags"])
    assert meta["suggested_hardware"] == "cpu-basic" and "thumbnail" not in meta  # set per Space, by deploy
    made = Image.open(make_thumbnail(tmp_path / "thumbnail.jpg"))
    committed = Image.open(ROOT / "thumbnail.jpg")
    assert made.size == committed.size == SIZE and made.format == committed.format == "JPEG"
    assert not made.getexif() and not committed.getexif()
    # the card shows what the app draws: the example's boxes in the face colours, not a stock picture
    assert "thumbnail.jpg" in {p.as_posix() for p in space_files()}


def test_front_matter_writer_replaces_only_its_keys():
    readme = "---\ntitle: X\nmodels:\n  - old/model\nemoji: 🙂\n---\n\n# body\n---\n"
    new = with_front_matter(readme, Model("me/emotions", "a" * 40), "6.0.0")
    meta = front_matter(new)
    assert meta["title"] == "X" and meta["emoji"] == "🙂" and meta["models"] == ["me/emotions"]
    assert meta["preload_from_hub"] == [f"me/emotions {','.join(MODEL_FILES)} {'a' * 40}"]
    assert str(meta["sdk_version"]) == "6.0.0"
    assert new.endswith("---\n\n# body\n---\n")
    assert with_front_matter(new, Model("me/emotions", "a" * 40), "6.0.0") == new  # idempotent
    with pytest.raises(SystemExit, match="front matter"):
        with_front_matter("# no front matter\n", Model("a/b", "main"), "6.0.0")


def test_write_readme(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy==2.0\ngradio==6.1.2\n")
    readme = tmp_path / "README.md"
    readme.write_text("---\ntitle: X\nsdk: gradio\n---\n# hi\n")
    assert deploy.write_readme(Model("me/emotions", "main"), readme) is True
    assert front_matter(readme.read_text())["models"] == ["me/emotions"]
    assert str(front_matter(readme.read_text())["sdk_version"]) == "6.1.2"
    assert deploy.write_readme(Model("me/emotions", "main"), readme) is False


# --- .gitattributes ---------------------------------------------------------------------------------

def test_every_tracked_binary_file_is_marked_for_lfs():
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = [p for p in tracked.decode().split("\0") if p and (ROOT / p).is_file()]
    binaries = [p for p in paths if is_binary((ROOT / p).read_bytes()[:8000])]
    assert binaries, "expected the models and images to be tracked"
    # ask git itself how it reads .gitattributes for each path
    attrs = subprocess.run(["git", "check-attr", "filter", "--stdin", "-z"], cwd=ROOT, input="\0".join(binaries).encode(),
                           capture_output=True, check=True).stdout.decode().split("\0")
    filters = dict(zip(attrs[0::3], attrs[2::3]))
    unmarked = [p for p in binaries if filters.get(p) != "lfs"]
    assert not unmarked, f"binary files not matched by .gitattributes (add their patterns): {unmarked}"
    # and the model folder's types, tracked or not (a new export, a pushed model)
    folder = [p.relative_to(ROOT).as_posix() for p in (ROOT / "fer/assets").rglob("*")
              if p.is_file() and is_binary(p.read_bytes()[:8000])]
    attrs = subprocess.run(["git", "check-attr", "filter", "--stdin", "-z"], cwd=ROOT, input="\0".join(folder).encode(),
                           capture_output=True, check=True).stdout.decode().split("\0")
    assert all(v == "lfs" for v in attrs[2::3])


# --- deploy end to end ------------------------------------------------------------------------------

def test_deploy_creates_the_space_uploads_and_reads_back(hub, capsys, tmp_path):
    model_commit = hub.add_commit("me/emotions", model_files())
    assert deploy_main(["--space", SPACE, "--model-repo", "me/emotions", "--revision", model_commit]) == 0
    out = capsys.readouterr().out
    assert f"Space: {HfApi().endpoint}/spaces/{SPACE}" in out
    commit = out.split("commit: ")[1].split()[0]

    key = f"spaces/{SPACE}"
    assert hub.repos[key]["sdk"] == "gradio"
    api = HfApi()
    remote = set(api.list_repo_files(SPACE, repo_type="space"))
    assert remote == {p.as_posix() for p in space_files()}  # exactly the app's files (the Hub's README replaced)
    # binaries went through LFS (the server refuses them inline), text files inline
    assert all(op["key"] == "lfsFile" for op in hub.commit_operations[-1] if op.get("path", "").endswith((".tflite", ".jpg", ".keras", ".wasm")))
    assert any(op["key"] == "file" and op["path"] == "app.py" for op in hub.commit_operations[-1])
    # read back: every file as in the repository, the README with the model it was deployed with
    for rel in space_files():
        path = hf_hub_download(SPACE, rel.as_posix(), repo_type="space", revision=commit, cache_dir=tmp_path / "dl")
        if rel.as_posix() != "README.md":
            assert Path(path).read_bytes() == (ROOT / rel).read_bytes(), rel
    readme = Path(hf_hub_download(SPACE, "README.md", repo_type="space", cache_dir=tmp_path / "dl")).read_text()
    meta = front_matter(readme)
    assert meta["models"] == ["me/emotions"]
    assert meta["preload_from_hub"] == [f"me/emotions {','.join(MODEL_FILES)} {model_commit}"]
    assert readme.split("---\n", 2)[2] == (ROOT / "README.md").read_text().split("---\n", 2)[2]
    # the card's image: the Space's own thumbnail.jpg, by the URL the Hub serves it at
    assert meta["thumbnail"] == f"{api.endpoint}/spaces/{SPACE}/resolve/main/thumbnail.jpg" and "thumbnail.jpg" in remote
    variables = api.get_space_variables(SPACE)
    assert (variables["FER_MODEL"].value, variables["FER_MODEL_REVISION"].value) == ("me/emotions", model_commit)


def test_second_deploy_sends_only_what_changed_and_deletes_what_went(hub, capsys, tmp_path, monkeypatch):
    hub.add_commit(DEFAULT_REPO_ID, model_files(), branch=DEFAULT_REVISION)
    # a copy of the repository's Space files, to change one of them
    root = tmp_path / "repo"
    for rel in space_files():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((ROOT / rel).read_bytes())
    monkeypatch.setattr(deploy, "ROOT", root)
    assert deploy_main(["--space", SPACE]) == 0
    first = capsys.readouterr().out.split("commit: ")[1].split()[0]
    hub.add_commit(f"spaces/{SPACE}", {**hub.files(f"spaces/{SPACE}"), "stale.txt": b"from an old deploy\n"})

    (root / "app.py").write_text((root / "app.py").read_text() + "\n# changed\n")
    assert deploy_main(["--space", SPACE]) == 0
    second = capsys.readouterr().out.split("commit: ")[1].split()[0]
    assert second != first
    sent = hub.commit_operations[-1]
    assert [(op["key"], op["path"]) for op in sent if op["key"] != "header"] == [("deletedFile", "stale.txt"), ("file", "app.py")]
    files = hub.files(f"spaces/{SPACE}")
    assert files["app.py"].endswith(b"# changed\n") and "stale.txt" not in files
    assert front_matter(files["README.md"].decode())["models"] == [DEFAULT_REPO_ID]


def test_deploying_the_default_model_again_removes_the_variables_of_another(hub, capsys):
    hub.add_commit(DEFAULT_REPO_ID, model_files(), branch=DEFAULT_REVISION)
    other = hub.add_commit("me/emotions", model_files())
    assert deploy_main(["--space", SPACE, "--model-repo", "me/emotions", "--revision", other]) == 0
    assert set(HfApi().get_space_variables(SPACE)) == {"FER_MODEL", "FER_MODEL_REVISION"}
    assert deploy_main(["--space", SPACE]) == 0
    assert HfApi().get_space_variables(SPACE) == {}
    readme = hub.files(f"spaces/{SPACE}")["README.md"].decode()
    assert front_matter(readme)["preload_from_hub"][0].startswith(f"{DEFAULT_REPO_ID} ")


def test_refuses_a_model_the_hub_does_not_have(hub):
    with pytest.raises(SystemExit, match="push it first"):
        deploy_main(["--space", SPACE, "--model-repo", "me/missing", "--revision", "main"])
    assert f"spaces/{SPACE}" not in hub.repos


def test_wrong_token_is_refused(hub, monkeypatch, capsys):
    hub.add_commit("me/emotions", model_files())
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    assert deploy_main(["--space", SPACE, "--model-repo", "me/emotions"]) == 1
    assert "deploy failed" in capsys.readouterr().err


@pytest.fixture
def answering(monkeypatch, tmp_path):
    """A Hub endpoint that answers every request with one HTTP status, or that nothing listens on."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    def serve(status: int | None) -> str:
        if status is None:
            url = "http://127.0.0.1:9"  # the discard port: refused
        else:
            class Answer(BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

                def log_message(self, *args):
                    pass

            server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_port}"
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        _reload_hub_constants(monkeypatch, url, tmp_path / "hub-cache")
        return url

    return serve


def test_a_hub_that_cannot_be_reached_or_fails_is_named_not_blamed_on_the_model(answering, monkeypatch):
    url = answering(None)
    with pytest.raises(SystemExit, match=f"cannot reach the Hub at {url}") as refused:  # was a traceback
        deploy_main(["--space", SPACE])
    assert "push it first" not in str(refused.value)
    answering(503)
    with pytest.raises(SystemExit, match="the Hub answered: .*503") as refused:  # was "not found ... push it first"
        deploy_main(["--space", SPACE])
    assert "push it first" not in str(refused.value)
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(SystemExit, match="HF_HUB_OFFLINE is set"):
        deploy_main(["--space", SPACE])


def test_only_files_git_tracks_are_uploaded_and_hidden_ones_never(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    for rel in space_files():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    git("init", "-q")
    git("add", "-A")
    for stray in ("examples/my_unreleased_photo.jpg", "fer/.env", "fer/assets/model/.cache/model.tflite.metadata"):
        (tmp_path / stray).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / stray).write_bytes(b"x")
    files = {p.as_posix() for p in space_files(tmp_path)}
    assert "fer/assets/model/model.tflite" in files and ".gitattributes" in files
    assert not files & {"examples/my_unreleased_photo.jpg", "fer/.env", "fer/assets/model/.cache/model.tflite.metadata"}
    assert [p.as_posix() for p in deploy.untracked_files(tmp_path)] == ["examples/my_unreleased_photo.jpg"]
    git("add", "-f", "fer/.env")  # hidden files stay out even when tracked
    assert "fer/.env" not in {p.as_posix() for p in space_files(tmp_path)}
