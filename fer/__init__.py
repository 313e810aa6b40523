"""Facial emotion recognition: find every face in an image and label it with one of seven emotions.

>>> from fer import EmotionRecognizer
>>> recognizer = EmotionRecognizer()            # bundled model, or FER_MODEL / a Hub repo id
>>> result = recognizer.predict("photo.jpg")    # path, bytes, PIL image or RGB array
>>> result.main_face.label, result.main_face.scores
>>> annotated = result.plot(image)              # RGB array with boxes and labels
"""

import os

# TensorFlow, MediaPipe and LiteRT log start-up chatter from C++ (GPU probing, delegates) on stderr,
# which buries real warnings; keep errors only unless the user asked otherwise.
for _var in ("TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel"):
    os.environ.setdefault(_var, "2")

from fer.config import EMOTIONS, ModelConfig, Preprocessing  # noqa: E402
from fer.draw import draw_results  # noqa: E402
from fer.image import ImageError, load_image  # noqa: E402
from fer.predictor import EmotionRecognizer  # noqa: E402
from fer.results import FaceResult, ImageResult  # noqa: E402

__all__ = [
    "EMOTIONS",
    "EmotionRecognizer",
    "FaceResult",
    "ImageError",
    "ImageResult",
    "ModelConfig",
    "Preprocessing",
    "draw_results",
    "load_image",
]
__version__ = "0.1.0"
