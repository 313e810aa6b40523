"""What the app keeps of a visit, and for how long: nothing of a visitor's files outlives the window
(``FER_KEEP_FILES_S``), nothing is saved in the browser, and no image the app or the CLI writes
carries the upload's EXIF, XMP or GPS metadata."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from conftest import EXAMPLES, ROOT, running_app

GPS_AND_CAMERA = {"GPS", "Exif\x00\x00", "http://ns.adobe.com/xap/1.0/", "Canon"}


def photo_with_metadata(path: Path) -> Path:
    """The two-faces example as a JPEG carrying a camera's EXIF (with a GPS position) and XMP."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS R5"
    exif[ExifTags.Base.Orientation] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update({ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0),
                ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0)})
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Canon"/></rdf:RDF></x:xmpmeta>')
    Image.open(EXAMPLES / "two_faces.jpg").save(path, exif=exif, xmp=xmp, quality=95)
    return path


def assert_no_metadata(data: bytes, what: str) -> None:
    image = Image.open(io.BytesIO(data))
    assert not image.getexif() and "xmp" not in image.info and "exif" not in image.info, what
    found = {marker for marker in GPS_AND_CAMERA if marker.encode() in data}
    assert not found, f"{what} carries {found}"


def test_the_test_photo_does_carry_the_metadata(tmp_path):
    """So that the checks below could fail."""
    data = photo_with_metadata(tmp_path / "gps.jpg").read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) and "xmp" in image.info
    with pytest.raises(AssertionError):
        assert_no_metadata(data, "the upload itself")


def test_the_cli_annotated_copy_has_no_exif_xmp_or_gps(tmp_path):
    photo = photo_with_metadata(tmp_path / "gps.jpg")
    out = tmp_path / "annotated"
    run = subprocess.run([sys.executable, "-m", "fer", str(photo), "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    [written] = list(out.iterdir())
    assert_no_metadata(written.read_bytes(), f"the CLI's {written.name}")


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_a_visitors_files_are_gone_after_the_window_and_outputs_carry_no_metadata(tmp_path):
    from gradio_client import Client, handle_file

    from videos import two_face_video

    cache, temp = tmp_path / "gradio", tmp_path / "tmp"
    temp.mkdir()
    photo, video = photo_with_metadata(tmp_path / "gps.jpg"), two_face_video(tmp_path / "two.mp4")
    with running_app(tmp_path / "app.log", FER_KEEP_FILES_S="4", GRADIO_TEMP_DIR=str(cache), TMPDIR=str(temp)) as url:
        time.sleep(2)  # the example gallery's copies, which the page serves to every visitor, are there
        own = _files(cache)
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        annotated = client.predict(handle_file(str(photo)), api_name="/annotate")
        image, label = client.predict(handle_file(str(photo)), api_name="/predict")
        client.predict(handle_file(str(photo)), api_name="/analyze")
        client.predict(handle_file(str(video)), 2, api_name="/analyze_video")
        if importlib.util.find_spec("mcp"):  # an agent's photo, sent as a data URL
            from test_mcp import data_url, with_session

            with_session(url, lambda session: session.call_tool("annotate", {"path": data_url(photo)}))
        for path in (annotated, image):  # the app's images: no metadata of the upload
            assert_no_metadata(Path(path).read_bytes(), f"the app's {Path(path).name}")
        left = (_files(cache) - own) | _files(temp)
        assert left, "the requests left no file at all: the check below would mean nothing"
        deadline = time.time() + 30
        while ((_files(cache) - own) | _files(temp)) and time.time() < deadline:
            time.sleep(1)
        left = (_files(cache) - own) | _files(temp)
        assert not left, sorted(str(p) for p in left)
        assert own and own <= _files(cache)  # the example gallery's copies, which every visitor sees, stay
        config = client.config
    assert config["run_history"] is False and config["analytics_enabled"] is False
