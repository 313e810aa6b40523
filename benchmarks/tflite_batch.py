"""A LiteRT classifier file exported for a batch of one (what LiteRT.js in the browser runs) against
one exported for any batch, in one run: ``python benchmarks/tflite_batch.py ANY_BATCH_DIR BATCH_ONE_DIR``.

fer.classifier runs a batch-of-one file face by face (XNNPACK cannot resize it); this measures what that
costs on the faces of one photo (1, 7 and 30 faces), one CPU thread, medians over interleaved repeats.
An older bundled folder: ``git archive 049b2f8~1 fer/assets/model | tar -x -C /tmp`` (the last commit
before the batch-of-one export).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fer.classifier import EmotionClassifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs=2, type=Path, help="two model folders (any batch, batch of one)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    models = [EmotionClassifier(folder) for folder in args.folders]
    for model, folder in zip(models, args.folders):
        print(f"{folder}: batch of one: {model.runner.one_at_a_time}")
    rng = np.random.default_rng(0)
    for faces in (1, 7, 30):
        crops = rng.integers(0, 256, (faces, 48, 48), dtype=np.uint8)
        times = [[], []]
        for model in models:
            model.predict_proba(crops)  # warm-up, and the first plan for this many faces
        for _ in range(args.repeats):
            for i, model in enumerate(models):
                start = time.perf_counter()
                model.predict_proba(crops)
                times[i].append((time.perf_counter() - start) * 1000)
        a, b = (statistics.median(t) for t in times)
        same = np.allclose(models[0].predict_proba(crops), models[1].predict_proba(crops), atol=1e-5)
        print(f"{faces:2d} faces: any batch {a:.2f} ms, batch of one {b:.2f} ms ({b / a:.2f}x); same probabilities: {same}")


if __name__ == "__main__":
    main()
