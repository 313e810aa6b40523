import numpy as np
import pytest

from conftest import shared
from test_data import write_ferplus_csv
from train.batches import Batches
from train.data import ferplus_targets, read_fer2013_csv, read_ferplus_votes


def _data(n=20):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 48, 48, 1), dtype=np.uint8), np.eye(7, dtype="float32")[rng.integers(0, 7, n)]


def test_every_row_once_per_epoch_in_a_seeded_order():
    x, y = _data()
    batches = Batches(x, y, batch_size=8, seed=3)
    assert len(batches) == 3
    seen = np.concatenate([batches[i][0] for i in range(len(batches))])
    assert sorted(map(bytes, seen.astype(np.uint8))) == sorted(map(bytes, x))
    first_epoch = [b[0].copy() for b in (batches[i] for i in range(3))]
    batches.on_epoch_end()
    assert not np.array_equal(batches[0][0], first_epoch[0])  # reshuffled
    resumed = Batches(x, y, batch_size=8, seed=3, epoch=1)  # what --resume builds after epoch 1
    assert all(np.array_equal(resumed[i][0], batches[i][0]) for i in range(3))


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mixing_keeps_targets_distributions(mix):
    x, y = _data(64)
    batches = Batches(x, y, batch_size=64, seed=0, mix=mix, mix_prob=1.0, mix_alpha=1.0)
    bx, by = batches[0]
    assert np.allclose(by.sum(axis=1), 1.0)
    assert (by.max(axis=1) < 1).any()  # some targets are now mixtures
    assert bx.shape == (64, 48, 48, 1) and bx.min() >= 0 and bx.max() <= 255


def test_sample_weights_travel_with_their_rows():
    x, y = _data()
    weights = np.arange(20, dtype="float32")
    bx, by, bw = Batches(x, y, 20, seed=1, sample_weights=weights)[0]
    rows = [int(np.flatnonzero((x == img.astype(np.uint8)).all(axis=(1, 2, 3)))[0]) for img in bx]
    assert np.array_equal(bw, weights[rows])


def test_ferplus_votes_map_onto_our_labels(tmp_path):
    path = write_ferplus_csv(tmp_path / "ferplus.csv", [
        "Training,a.png,0,8,2,0,0,0,0,0,0,0",   # mostly happy
        "Training,,5,5,0,0,0,0,0,0,0,0",        # no image name: unusable
        "Training,c.png,0,0,0,0,0,0,0,3,5,2",   # contempt/unknown/not-a-face only: unusable
        "PublicTest,d.png,1,0,0,0,9,0,0,0,0,0",
    ])
    votes = read_ferplus_votes(path)
    soft, keep = ferplus_targets(votes["Training"], soft=True)
    assert keep.tolist() == [True, False, False]
    assert soft[0].tolist() == pytest.approx([0, 0, 0, 0.8, 0, 0.2, 0])  # happy 0.8, surprise 0.2
    hard, _ = ferplus_targets(votes["PublicTest"], soft=False)
    assert hard[0].argmax() == 0  # angry


def test_shared_ferplus_lines_up_with_fer2013():
    votes = read_ferplus_votes(shared("ferplus", "fer2013new-train-publictest.csv"))
    fer2013 = read_fer2013_csv(shared("fer2013", "fer2013-train-publictest.csv.gz"))
    assert len(votes["Training"]) == 28709 and len(votes["PublicTest"]) == 3589
    _, keep = ferplus_targets(votes["Training"], soft=True)
    assert 28000 < keep.sum() < 28709
    # matched by position: the same face has mostly the same label in both (0.645 measured); votes
    # shifted by a single row agree only by chance (about 0.18)
    for usage in ("Training", "PublicTest"):
        majority, keep = ferplus_targets(votes[usage], soft=False)
        assert (majority.argmax(axis=1) == fer2013[usage].labels[keep]).mean() > 0.6, usage
