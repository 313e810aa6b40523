"""Facial emotion recognition: find every face in an image and label it with one of seven emotions.

>>> from fer import EmotionRecognizer
>>> recognizer = EmotionRecognizer()            # bundled model, or FER_MODEL / a Hub repo id
>>> result = recognizer.predict("photo.jpg")    # path, bytes, PIL image or RGB array
>>> result.main_face.label, result.main_face.scores
>>> from fer import draw_results
>>> annotated = draw_results(image, result)    # RGB array with boxes and labels
"""

import importlib
import os

# TensorFlow, MediaPipe and LiteRT log start-up chatter from C++ (GPU probing, delegates) on stderr,
# which buries real warnings; keep errors only unless the user asked otherwise.
for _var in ("TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel"):
    os.environ.setdefault(_var, "2")

# Public names are imported on first use (PEP 562), so `from fer.config import EMOTIONS` (training,
# on machines without MediaPipe) does not load the detector and its native libraries.
_EXPORTS = {
    "EMOTIONS": "fer.config",
    "ModelConfig": "fer.config",
    "Preprocessing": "fer.config",
    "draw_results": "fer.draw",
    "ImageError": "fer.image",
    "load_image": "fer.image",
    "EmotionRecognizer": "fer.predictor",
    "FaceResult": "fer.results",
    "ImageResult": "fer.results",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
