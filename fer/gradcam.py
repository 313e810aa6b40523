"""Why this label: Grad-CAM heat maps (Selvaraju et al., 2017) of the classifier, drawn on the photo.

The gradient of the chosen class's logit with respect to the last convolutional feature map weights
that map's channels; their positive sum shows which parts of the face crop drove the decision. Each
crop's map is warped back into the photo with the inverse of the crop's alignment transform.
Needs gradients, so it runs on the TensorFlow backend (the runtime's); training stays backend-agnostic.
"""

from __future__ import annotations

import cv2
import keras
import numpy as np

from fer.classifier import EmotionClassifier
from fer.detect import Detection
from fer.preprocess import alignment_matrix, crop_face
from fer.results import ImageResult


def _feature_model(model: keras.Model) -> keras.Model:
    """input -> (last convolutional activation, logits). The activation before the last pooling:
    after pooling the map is 3x3 and its class evidence often sums negative everywhere."""
    last = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation) and len(layer.output.shape) == 4][-1]
    return keras.Model(model.inputs, [last.output, model.output])


def gradcam(classifier: EmotionClassifier, crops: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` heat maps in [0, 1] for ``crops`` (uint8) and the class index of each."""
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("Grad-CAM needs the TensorFlow backend (KERAS_BACKEND=tensorflow)")
    import tensorflow as tf

    if not hasattr(classifier, "_feature_model"):
        classifier._feature_model = _feature_model(classifier.model)
    pre = classifier.config.preprocessing
    x = tf.convert_to_tensor(crops[..., None].astype("float32") * pre.scale)
    with tf.GradientTape() as tape:
        features, logits = classifier._feature_model(x, training=False)
        chosen = tf.gather(logits, classes, axis=1, batch_dims=1)
    grads = tape.gradient(chosen, features)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cams = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1)).numpy()
    size = pre.input_size
    maps = np.stack([cv2.resize(cam, (size, size), interpolation=cv2.INTER_CUBIC) for cam in cams])
    maps = np.clip(maps, 0, None)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return maps / np.where(peak > 0, peak, 1)


def overlay_gradcam(image: np.ndarray, result: ImageResult, classifier: EmotionClassifier, alpha: float = 0.45) -> np.ndarray:
    """``image`` with each face's heat map (for its top label) blended in; RGB uint8."""
    if not result.faces:
        return image.copy()
    pre = classifier.config.preprocessing
    detections = [Detection(tuple(map(float, f.box)), f.score, f.keypoints) for f in result.faces]
    crops = np.stack([crop_face(image, d, pre) for d in detections])
    classes = np.array([classifier.labels.index(f.label) for f in result.faces])
    maps = gradcam(classifier, crops, classes)
    height, width = image.shape[:2]
    heat = np.zeros((height, width), np.float32)
    for det, cam in zip(detections, maps):
        matrix = alignment_matrix(det, pre, pre.input_size)
        back = cv2.warpAffine(cam.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0)
        heat = np.maximum(heat, back)
    colored = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (alpha * heat)[..., None]  # blend only where the map is warm; the rest of the photo stays
    return (image * (1 - weight) + colored * weight).round().astype(np.uint8)
