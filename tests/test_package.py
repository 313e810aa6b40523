"""The package (pyproject.toml): its dependencies match the requirements files, the wheel holds the library
with its assets and the `fer` command, and that command, installed into a fresh environment, works on a
photo outside the repository."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fer.config import EMOTIONS

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DIST = "fer-emotion"


def pins(requirements: str) -> dict[str, str]:
    """``name -> pinned version`` of a requirements file (``-r`` lines and comments skipped)."""
    found = {}
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{requirements}: {line} is not pinned"
            found[canonicalize_name(req.name)] = spec.version
    return found


def ranges(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in requirements}


@pytest.mark.parametrize("requirements, groups", [
    ("requirements.txt", ["dependencies", "app"]),
    ("requirements-train.txt", ["train"]),
    ("requirements-batch.txt", ["batch"]),
])
def test_dependencies_admit_the_pinned_requirements(requirements, groups):
    project = PYPROJECT["project"]
    declared = {}
    for group in groups:
        declared |= ranges(project["dependencies"] if group == "dependencies" else project["optional-dependencies"].get(group, []))
    for name, version in pins(requirements).items():
        assert name in declared, f"{name} (in {requirements}) is missing from pyproject.toml {groups}"
        assert declared[name].specifier.contains(version), f"{declared[name]} excludes {name}=={version} ({requirements})"
        assert declared[name].specifier != "", f"{name}: give a range"
    # the library itself needs neither TensorFlow nor gradio
    core = ranges(project["dependencies"])
    assert not {"tensorflow", "keras", "gradio"} & set(core)


def test_distribution_name_and_command():
    assert PYPROJECT["project"]["name"] == DIST  # "fer" on PyPI is another project
    assert PYPROJECT["project"]["scripts"] == {"fer": "fer.__main__:main"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built offline (setuptools from the environment) from a copy of the sources."""
    src = tmp_path_factory.mktemp("src")  # a copy: building in place would leave build/ in the checkout
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "fer", src / "fer", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                             "--no-index", "-q", "-w", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("fer_emotion-*.whl")
    return path


def test_wheel_holds_the_library_its_assets_and_the_command(wheel):
    import fer

    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "fer").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".keras")}
    assert not any(n.endswith(".keras") for n in names)  # for train/, which is not in the wheel: 30 MB less
    for required in ("fer/assets/model/model.tflite", "fer/assets/accurate/model.tflite", "fer/assets/model/config.json",
                     "fer/assets/model/README.md", "fer/assets/face_detection/face_detection_short_range.tflite",
                     "fer/assets/face_detection/face_detection_full_range_sparse.tflite",
                     "fer/assets/face_detection/LICENSE", "fer/__main__.py", "fer/source.py"):
        assert required in expected
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    files = {n for n in names if ".dist-info/" not in n}
    assert files == expected, f"not part of the library: {sorted(files - expected)}"  # no app, train, tests
    info = f"fer_emotion-{fer.__version__}.dist-info"
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "[console_scripts]" in entry_points and "fer = fer.__main__:main" in entry_points
    metadata = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert f"Name: {DIST}" in metadata and "Requires-Dist: mediapipe" in metadata
    assert "Provides-Extra: train" in metadata and "Requires-Dist: tensorflow" in metadata


@pytest.mark.skipif(sys.platform == "win32", reason="venv layout")
def test_installed_command_reads_a_photo_outside_the_repository(wheel, tmp_path):
    """A fresh venv, the wheel installed into it, `fer photo.jpg` run elsewhere: the installed copy answers.

    The dependencies come from this environment (a .pth line) rather than being downloaded again; a full
    `pip install .` with downloads is the README's manual check.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy2(ROOT / "examples" / "two_faces.jpg", photos / "friends.jpg")
    env = {**os.environ, "FER_MODEL": "bundled", "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    where = subprocess.run([str(python), "-c", "import fer.source as s; print(s.__file__); print(s.BUNDLED_MODEL)"],
                           cwd=photos, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # the installed copy, not the checkout
    result = subprocess.run([str(venv / "bin" / "fer"), "friends.jpg", "--json"], cwd=photos, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = json.loads(result.stdout)
    assert record["path"] == "friends.jpg" and record["error"] is None
    assert len(record["faces"]) == 2 and all(f["label"] in EMOTIONS for f in record["faces"])
