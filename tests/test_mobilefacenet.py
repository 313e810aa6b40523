"""The ONNX -> Keras rebuild of the pretrained MobileFaceNet, on a small graph of the same operations.

The real file lives outside the repository (``../shared/pretrained``); this graph has what it has:
block-quantised weights de-quantised and reshaped, a strided conv, PReLU, a depthwise conv with a
residual add, a global depthwise conv, flatten and a transposed Gemm. ONNX's reference runtime is
the judge.
"""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is in requirements-train.txt")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from train.mobilefacenet import FER2013_ORDER, RAF_ORDER, _shrunk, build_mobilefacenet, dequantize  # noqa: E402


def _quantised(name, weight, block, rng):
    """Initialisers and nodes that de-quantise a flat int8 copy of ``weight`` in blocks along axis 1
    (axis 0 for a vector) and reshape it, as the pretrained file stores its weights."""
    flat = weight.reshape(weight.shape[0], -1) if weight.ndim > 1 else weight
    axis = 1 if weight.ndim > 1 else 0
    blocks = -(-flat.shape[axis] // block)
    scale_shape = (flat.shape[0], blocks) if axis else (blocks,)
    scale = rng.uniform(0.01, 0.05, scale_shape).astype(np.float32)
    zero = rng.integers(-3, 4, scale_shape).astype(np.int8)
    q = rng.integers(-100, 100, flat.shape).astype(np.int8)
    inits = [numpy_helper.from_array(q, f"{name}_q"), numpy_helper.from_array(scale, f"{name}_s"),
             numpy_helper.from_array(zero, f"{name}_z")]
    nodes = [helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"],
                              axis=axis, block_size=block)]
    if weight.ndim == 1:
        return inits, nodes, f"{name}_dq"
    inits.append(numpy_helper.from_array(np.array(weight.shape, np.int64), f"{name}_shape"))
    nodes.append(helper.make_node("Reshape", [f"{name}_dq", f"{name}_shape"], [name]))
    return inits, nodes, name


def _small_graph(path, size=8):
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def weight(name, shape, block):
        i, n, out = _quantised(name, np.zeros(shape, np.float32), block, rng)
        inits.extend(i)
        nodes.extend(n)
        return out

    w1, b1 = weight("w1", (4, 3, 3, 3), 8), weight("b1", (4,), 2)
    nodes.append(helper.make_node("Conv", ["data", w1, b1], ["c1"], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    inits.append(numpy_helper.from_array(rng.uniform(0.1, 0.3, (4, 1, 1)).astype(np.float32), "slope"))
    nodes.append(helper.make_node("PRelu", ["c1", "slope"], ["p1"]))
    w2, b2 = weight("w2", (4, 1, 3, 3), 9), weight("b2", (4,), 4)
    nodes.append(helper.make_node("Conv", ["p1", w2, b2], ["c2"], group=4, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
    nodes.append(helper.make_node("Add", ["p1", "c2"], ["a1"]))
    half = size // 2
    w3, b3 = weight("w3", (4, 1, half, half), half * half), weight("b3", (4,), 4)
    nodes.append(helper.make_node("Conv", ["a1", w3, b3], ["gdc"], group=4, kernel_shape=[half, half], pads=[0, 0, 0, 0], strides=[1, 1]))
    nodes.append(helper.make_node("Flatten", ["gdc"], ["flat"], axis=1))
    w4, b4 = weight("w4", (7, 4), 4), weight("b4", (7,), 7)
    nodes.append(helper.make_node("Gemm", ["flat", w4, b4], ["label"], transB=1))
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("label", TensorProto.FLOAT, [1, 7])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)
    return path


def test_the_keras_rebuild_matches_onnx_in_fer2013_class_order(tmp_path):
    path = _small_graph(tmp_path / "small.onnx")
    model = build_mobilefacenet(path, input_size=8, size=8)
    faces = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)
    ours = np.asarray(model.predict(faces, verbose=0))
    reference = ReferenceEvaluator(str(path))
    order = [RAF_ORDER.index(c) for c in FER2013_ORDER]
    for face, logits in zip(faces, ours):
        rgb = np.repeat(face.transpose(2, 0, 1)[None], 3, axis=1) * 2.0 - 1.0  # grey to RGB, [-1, 1], NCHW
        expected = reference.run(None, {"data": rgb})[0][0]
        np.testing.assert_allclose(logits, expected[order], rtol=1e-4, atol=1e-4)
    assert model.name == "fer_cnn" and model.output_shape == (None, 7)


def test_a_smaller_network_size_shrinks_the_global_kernel_and_keeps_its_sum(tmp_path):
    kernel = np.random.default_rng(2).random((7, 7, 1, 5)).astype(np.float32)
    small = _shrunk(kernel, 4, 4)
    assert small.shape == (4, 4, 1, 5)
    np.testing.assert_allclose(small.sum(axis=(0, 1)), kernel.sum(axis=(0, 1)), rtol=1e-5)
    model = build_mobilefacenet(_small_graph(tmp_path / "small.onnx"), input_size=8, size=4)  # 8 px in, 4 px inside
    assert model.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0).shape == (2, 7)


def test_blockwise_dequantisation():
    q = np.array([[10, 20, 30], [-10, 0, 10]], np.int8)
    scale = np.array([[0.5, 2.0], [1.0, 1.0]], np.float32)
    zero = np.array([[0, 10], [0, 0]], np.int8)
    np.testing.assert_allclose(dequantize(q, scale, zero, axis=1, block=2), [[5, 10, 40], [-10, 0, 10]])


def test_training_fine_tunes_the_pretrained_network_and_saves_it_in_float32(tmp_path):
    import keras

    from test_data import write_fer_csv
    from train.train import main as train_main

    rng = np.random.default_rng(0)
    rows = [(int(rng.integers(7)), usage, int(rng.integers(256))) for usage in ["Training"] * 24 + ["PublicTest"] * 8]
    data = write_fer_csv(tmp_path / "tiny.csv", rows)
    onnx_path = _small_graph(tmp_path / "small.onnx")
    before = build_mobilefacenet(onnx_path, size=8).get_weights()
    try:
        train_main([f"--data={data}", f"--out={tmp_path / 'run'}", "--arch=mobilefacenet", f"--pretrained={onnx_path}",
                    "--network_size=8", "--batch_size=8", "--epochs=1", "--patience=0", "--precision=mixed_bfloat16"])
    finally:
        keras.config.set_dtype_policy("float32")
    tuned = keras.models.load_model(tmp_path / "run" / "best.keras")
    assert {layer.dtype_policy.name for layer in tuned.layers} == {"float32"}
    assert any(not np.array_equal(a, b) for a, b in zip(before, tuned.get_weights()))  # it learned
    # from the pretrained network: a few small steps away from its weights, where a fresh init would be anywhere
    kernel, start = tuned.get_weights()[0], before[0]
    assert kernel.shape == start.shape and np.abs(kernel - start).max() < 0.1 * np.abs(start).max()
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert "Licence notice: this model is derived from the OpenCV Model Zoo" in card  # Apache-2.0, section 4
    assert "fine-tuned from the RAF-DB MobileFaceNet `small.onnx`, run at 8 px inside" in card
    assert "raf-db" in card and "trained from scratch" not in card


def test_an_ensemble_with_it_explains_through_its_cnn_members_only(tmp_path):
    from train.export import explainable
    from train.model import build_classifier, build_ensemble

    cnn = build_classifier(widths=(4, 8), head_units=8)
    pretrained = build_mobilefacenet(_small_graph(tmp_path / "small.onnx"), input_size=48, size=8)
    out = explainable(build_ensemble([cnn, pretrained]))(np.zeros((2, 48, 48, 1), np.float32))
    assert out["features"].shape[-1] == 8  # the CNN's last block only
    assert tuple(out["head_gradients"].shape) == (2, 8, 7)
    assert explainable(pretrained) is pretrained  # alone: logits only, nothing to explain
