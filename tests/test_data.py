import gzip

import numpy as np
import pytest
from PIL import Image

from conftest import shared
from train.data import FERPLUS_COLUMNS, load_split, read_fer2013_csv, read_image_folder


def write_fer_csv(path, rows):
    """rows: (label, usage, fill value) -> a FER2013-format CSV (gzip when path ends in .gz)."""
    lines = ["emotion,pixels,Usage"] + [f"{label},{' '.join([str(v)] * 2304)},{usage}" for label, usage, v in rows]
    data = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(data)
    else:
        path.write_text(data)
    return path


def write_ferplus_csv(path, rows):
    """rows: ``"Usage,Image name,<ten vote counts>"`` lines -> a FER+ votes CSV with its real header."""
    path.write_text("\n".join([",".join(("Usage", "Image name") + FERPLUS_COLUMNS), *rows]) + "\n")
    return path


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_reads_every_usage(tmp_path, name):
    path = write_fer_csv(tmp_path / name, [(0, "Training", 1), (3, "PublicTest", 2), (6, "PrivateTest", 3), (5, "Training", 4)])
    splits = read_fer2013_csv(path)
    assert sorted(splits) == ["PrivateTest", "PublicTest", "Training"]
    assert splits["Training"].images.shape == (2, 48, 48) and splits["Training"].images.dtype == np.uint8
    assert list(splits["Training"].labels) == [0, 5] and splits["PrivateTest"].images[0, 0, 0] == 3
    assert len(load_split(path, "PublicTest")) == 1
    with pytest.raises(ValueError, match="Usage='Validation'"):
        load_split(path, "Validation")


def test_a_whole_csv_is_one_split_only_when_it_holds_one_usage(tmp_path):
    mixed = write_fer_csv(tmp_path / "mixed.csv", [(0, "Training", 1), (3, "PublicTest", 2), (5, "Training", 4)])
    with pytest.raises(ValueError, match=r"\['PublicTest', 'Training'\]"):  # Training rows must not slip into a figure
        load_split(mixed)
    single = write_fer_csv(tmp_path / "single.csv", [(0, "PrivateTest", 1), (3, "PrivateTest", 2)])
    assert list(load_split(single).labels) == [0, 3]


def test_malformed_rows_are_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    with pytest.raises(ValueError, match=":2"):
        read_fer2013_csv(path)
    path.write_text("a,b,c\n")
    with pytest.raises(ValueError, match="header"):
        read_fer2013_csv(path)


def test_image_folder(tmp_path):
    for label in ["happy", "sad"]:
        (tmp_path / label).mkdir()
        Image.new("RGB", (100, 80), (10, 20, 30)).save(tmp_path / label / "a.jpg")
    split = read_image_folder(tmp_path)
    assert split.images.shape == (2, 48, 48) and list(split.labels) == [3, 4]
    raw = read_image_folder(tmp_path, size=None)
    assert raw.images[0].shape == (80, 100, 3)
    with pytest.raises(ValueError, match="folder"):  # no Training/PublicTest inside: validating on it would reuse training faces
        load_split(tmp_path, "PublicTest")
    assert len(load_split(tmp_path)) == 2  # as a whole, for evaluation
    (tmp_path / "bored").mkdir()
    with pytest.raises(ValueError, match="bored"):
        read_image_folder(tmp_path)


def test_shared_fer2013_counts():
    splits = read_fer2013_csv(shared("fer2013", "fer2013-train-publictest.csv.gz"))
    assert len(splits["Training"]) == 28709 and len(splits["PublicTest"]) == 3589
    assert np.bincount(splits["PublicTest"].labels).tolist() == [467, 56, 496, 895, 653, 415, 607]
