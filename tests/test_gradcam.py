import numpy as np
import pytest

from conftest import EXAMPLES
from fer import load_image
from fer.gradcam import activation_gradients, gradcam, gradcam_plus_plus, overlay_gradcam
from fer.preprocess import crop_face
from fer.detect import Detection
from fer.source import BUNDLED_MODEL


def test_heat_maps_are_normalised_per_face(recognizer):
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    maps = gradcam(recognizer.classifier, crops, np.array([0, 3, 6]))
    assert maps.shape == (3, 48, 48) and maps.min() >= 0 and maps.max() <= 1


def example_crops(recognizer):
    crops, classes = [], []
    for name in ("grace_hopper.jpg", "two_faces.jpg", "astronaut.jpg", "tilted_portrait.jpg"):
        image = load_image(EXAMPLES / name)
        for face in recognizer.predict(image).faces:
            det = Detection(tuple(map(float, face.box)), face.score, face.keypoints)
            crops.append(crop_face(image, det, recognizer.classifier.config.preprocessing))
            classes.append(recognizer.labels.index(face.label))
    return np.stack(crops), np.array(classes)


def test_every_face_of_the_examples_gets_a_map(recognizer):
    crops, classes = example_crops(recognizer)
    assert len(crops) >= 5
    maps = gradcam(recognizer.classifier, crops, classes)
    # a non-empty map: it peaks at 1 and a real share of the face is warm
    assert np.allclose(maps.reshape(len(maps), -1).max(axis=1), 1.0)
    assert ((maps > 0.2).mean(axis=(1, 2)) > 0.02).all()


def test_gradients_and_maps_match_keras_autodiff(recognizer, tmp_path):
    """The LiteRT outputs plus NumPy back-propagation equal Keras gradients of the same weights, in a
    float32 LiteRT copy of the bundled weights; the bundled copy draws nearly the same maps, as it
    must also when it is exported int8 (``--int8``: correlation 0.9994-0.9998 on these faces)."""
    tf = pytest.importorskip("tensorflow", reason="training's TensorFlow is not installed")
    keras = pytest.importorskip("keras")
    from fer.classifier import LiteRTRunner
    from train.export import export_tflite

    crops, classes = example_crops(recognizer)
    classifier = recognizer.classifier
    model = keras.models.load_model(BUNDLED_MODEL / "model.keras", compile=False)
    export_tflite(model, tmp_path, crops, classifier.config.preprocessing.scale)  # float32: no calibration faces
    float_runner = LiteRTRunner(tmp_path / "model.tflite")
    last = [l for l in model.layers if isinstance(l, keras.layers.Activation) and len(l.output.shape) == 4][-1]
    features_model = keras.Model(model.inputs, [last.output, model.output])
    x = tf.convert_to_tensor(classifier.inputs(crops))
    with tf.GradientTape() as tape:
        features, logits = features_model(x, training=False)
        chosen = tf.gather(logits, classes, axis=1, batch_dims=1)
    expected_grads = tape.gradient(chosen, features).numpy()

    out = float_runner(classifier.inputs(crops), outputs=("features", "head_gradients"))
    grads = activation_gradients(out["features"], out["head_gradients"], classes)
    assert np.allclose(out["features"], features.numpy(), atol=1e-4)
    scale = np.abs(expected_grads).max()
    assert np.abs(grads - expected_grads).max() <= 1e-3 * scale
    expected_maps = gradcam_plus_plus(features.numpy(), expected_grads)
    maps = gradcam_plus_plus(out["features"], grads)
    assert np.allclose(maps, expected_maps, atol=1e-3 * expected_maps.max())

    shipped = classifier.runner(classifier.inputs(crops), outputs=("features", "head_gradients"))
    shipped_maps = gradcam_plus_plus(shipped["features"], activation_gradients(shipped["features"], shipped["head_gradients"], classes))
    for got, want in zip(shipped_maps, expected_maps):  # int8 moves the maps a little, never elsewhere
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99, "the int8 copy's map differs from the float one"


def test_overlay_touches_the_faces_only(recognizer):
    image = load_image(EXAMPLES / "two_faces.jpg")
    result = recognizer.predict(image)
    out = overlay_gradcam(image, result, recognizer.classifier)
    assert out.shape == image.shape and out.dtype == np.uint8
    changed = (out != image).any(axis=2)
    inside = np.zeros_like(changed)
    for face in result.faces:
        x0, y0, x1, y1 = face.box
        w, h = x1 - x0, y1 - y0
        inside[max(0, y0 - h) : y1 + h, max(0, x0 - w) : x1 + w] = True  # crop margin and rotation
    assert changed.any() and not (changed & ~inside).any()


def test_overlay_matches_warping_each_map_over_the_whole_photo(recognizer):
    """The overlay warps each map into its face's part of the photo only (fast on large photos); it
    must match warping it over the whole frame, here for two faces and one cut by the photo's edge."""
    import cv2

    from fer.preprocess import alignment_matrix

    image = load_image(EXAMPLES / "two_faces.jpg")
    result = recognizer.predict(image)
    edge = result.faces[0].box[0] + (result.faces[0].box[2] - result.faces[0].box[0]) // 3
    image = np.ascontiguousarray(image[:, edge:])  # the first face now crosses the left edge
    result = recognizer.predict(image)
    assert result.faces and min(f.box[0] for f in result.faces) <= 1
    classifier, pre = recognizer.classifier, recognizer.classifier.config.preprocessing
    detections = [Detection(tuple(map(float, f.box)), f.score, f.keypoints) for f in result.faces]
    maps = gradcam(classifier, np.stack([crop_face(image, d, pre) for d in detections]),
                   np.array([classifier.labels.index(f.label) for f in result.faces]))
    heat = np.zeros(image.shape[:2], np.float32)
    for det, cam in zip(detections, maps):
        back = cv2.warpAffine(cam.astype(np.float32), alignment_matrix(det, pre, pre.input_size),
                              image.shape[1::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        heat = np.maximum(heat, back)
    colored = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    expected = (image * (1 - 0.45 * heat[..., None]) + colored * 0.45 * heat[..., None]).round()
    difference = np.abs(overlay_gradcam(image, result, classifier).astype(int) - expected)
    # OpenCV interpolates at 1/32 pixel, so shifting the origin moves a few pixels by a few levels
    assert difference.max() <= 12 and difference.mean() < 0.1
