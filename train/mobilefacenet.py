"""The OpenCV Zoo's RAF-DB MobileFaceNet (Apache-2.0) as a Keras classifier of this project's faces.

A member trained on other data than FER2013 (RAF-DB's real photos) is what an ensemble for real
photos needs (issue 18). Only the ONNX file with int8 block-quantised weights exists here
(``../shared/pretrained``, its README), so this module de-quantises every weight and rebuilds the
network layer by layer in Keras, which makes it a classifier like any other run's: it takes the
project's ``(48, 48, 1)`` greyscale face in [0, 1] and returns logits in FER2013's class order.

    python -m train.mobilefacenet --out runs/mobilefacenet_init.keras [--size 112] [--check]

``--check`` compares the Keras copy's logits with OpenCV's own run of the ONNX file. The file can be
scored as it is, alone or with other members, by ``python -m train.ensemble --search``; fine-tuning
builds the network afresh from the ONNX file: ``python -m train --arch=mobilefacenet --network_size=64``
(``train/configs/mobilefacenet.yaml``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
from keras import layers

from fer.config import EMOTIONS as FER2013_ORDER
from train.config import PRETRAINED_MOBILEFACENET as PRETRAINED
from train.inputs import unit_range

# RAF-DB's class order in this model (its README), where FER2013's is fer.config.EMOTIONS
RAF_ORDER = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def dequantize(quantized: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int, block: int) -> np.ndarray:
    """ONNX ``DequantizeLinear`` with ``block_size``: each run of ``block`` values along ``axis`` has
    its own scale and zero point (a block size of 0 means one per slice of ``axis``)."""
    if block:
        scale = np.repeat(scale, block, axis=axis).take(range(quantized.shape[axis]), axis=axis)
        zero_point = np.repeat(zero_point, block, axis=axis).take(range(quantized.shape[axis]), axis=axis)
    elif scale.ndim == 1 and scale.size > 1:
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return (quantized.astype(np.float32) - zero_point.astype(np.float32)) * scale.astype(np.float32)


def constants(graph) -> dict[str, np.ndarray]:
    """Every tensor computable from the initialisers alone (the de-quantised, reshaped weights)."""
    from onnx import helper, numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if not all(name in values for name in node.input):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear":
            values[node.output[0]] = dequantize(*(values[n] for n in node.input), attrs.get("axis", 1), attrs.get("block_size", 0))
        elif node.op_type == "Reshape":
            values[node.output[0]] = values[node.input[0]].reshape(values[node.input[1]])
        else:
            raise ValueError(f"unexpected constant {node.op_type} node in the ONNX graph")
    return values


def _conv(x, weight: np.ndarray, bias: np.ndarray, attrs: dict, name: str):
    """ONNX Conv (NCHW weights, explicit pads, groups of 1 or one per channel) as Keras layers."""
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    if any((top, left, bottom, right)):
        x = layers.ZeroPadding2D(((top, bottom), (left, right)), name=f"{name}_pad")(x)
    group, strides = attrs.get("group", 1), tuple(attrs.get("strides", [1, 1]))
    kernel = weight.transpose(2, 3, 1, 0)  # (out, in/group, kh, kw) -> (kh, kw, in/group, out)
    height, width = x.shape[1], x.shape[2]
    if not any((top, left, bottom, right)) and (kernel.shape[0] > height or kernel.shape[1] > width):
        # the global depthwise conv at a smaller input: its kernel shrunk to the smaller feature map,
        # its weights summed over the same areas so each output keeps its scale
        kernel = _shrunk(kernel, height, width)
        weight = kernel.transpose(3, 2, 0, 1)
    if group == 1:
        layer = layers.Conv2D(weight.shape[0], weight.shape[2:], strides=strides, name=name)
    elif group == weight.shape[0] and weight.shape[1] == 1:
        layer = layers.DepthwiseConv2D(weight.shape[2:], strides=strides, name=name)
        kernel = kernel.transpose(0, 1, 3, 2)  # (kh, kw, 1, channels) -> (kh, kw, channels, 1)
    else:
        raise ValueError(f"{name}: grouped convolution with {group} groups is not supported")
    y = layer(x)
    layer.set_weights([kernel, bias])
    return y


def _shrunk(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """A ``(kh, kw, a, b)`` kernel resampled to ``(height, width, a, b)`` by area, keeping its sum."""
    import cv2

    kh, kw = kernel.shape[:2]
    flat = kernel.reshape(kh, kw, -1)
    small = np.stack([cv2.resize(flat[..., i], (width, height), interpolation=cv2.INTER_AREA)
                      for i in range(flat.shape[-1])], axis=-1)
    return (small * (kh * kw) / (height * width)).reshape(height, width, *kernel.shape[2:]).astype(kernel.dtype)


def build_mobilefacenet(onnx_path: str | Path = PRETRAINED, input_size: int = 48, size: int = 112) -> keras.Model:
    """The pretrained network behind this project's input: the greyscale face resized to ``size`` px,
    repeated into three channels and scaled to [-1, 1] as the network was trained, logits reordered
    to FER2013's classes. Named ``fer_cnn`` like every classifier trained here.

    ``size`` 112 is the network as trained; a multiple of 16 below it (64: a third of the compute)
    shrinks the last, global depthwise kernel to the smaller feature map, to be fine-tuned."""
    import onnx
    from onnx import helper

    graph = onnx.load(str(onnx_path)).graph
    values = constants(graph)
    face = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Resizing(size, size, interpolation="bilinear", name="to_network_size")(face) if size != input_size else face
    x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = layers.Rescaling(2.0, offset=-1.0, name="to_network_range")(x)
    tensors = {graph.input[0].name: x}
    for i, node in enumerate(n for n in graph.node if n.output[0] not in values):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inputs = [tensors.get(n) if n in tensors else values[n] for n in node.input]
        name = f"{node.op_type.lower()}{i}"
        if node.op_type == "Conv":
            out = _conv(inputs[0], inputs[1], inputs[2], attrs, name)
        elif node.op_type == "PRelu":
            prelu = layers.PReLU(shared_axes=[1, 2], name=name)
            out = prelu(inputs[0])
            prelu.set_weights([inputs[1].reshape(1, 1, -1)])
        elif node.op_type == "Add":
            out = layers.Add(name=name)(inputs)
        elif node.op_type == "Flatten":
            out = layers.Flatten(name=name)(inputs[0])  # (N, 1, 1, C): the same order as NCHW's
        elif node.op_type == "Gemm":
            if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
                raise ValueError("only Gemm with alpha = beta = 1 and no transA is supported")
            kernel = inputs[1].T if attrs.get("transB", 0) else inputs[1]  # (features, classes)
            order = [RAF_ORDER.index(c) for c in FER2013_ORDER]  # the classes in FER2013's order
            dense = layers.Dense(kernel.shape[1], name="logits", dtype="float32")
            out = dense(inputs[0])
            dense.set_weights([kernel[:, order], inputs[2][order]])
        else:
            raise ValueError(f"ONNX op {node.op_type} is not supported")
        tensors[node.output[0]] = out
    return keras.Model(face, tensors[graph.output[0].name], name="fer_cnn")


def opencv_logits(onnx_path: str | Path, faces: np.ndarray, size: int = 112) -> np.ndarray:
    """The same faces through OpenCV's own run of the ONNX file (RAF-DB order), one at a time:
    the reference the Keras copy must match."""
    import cv2

    net = cv2.dnn.readNet(str(onnx_path))
    out = []
    for face in faces:
        rgb = cv2.cvtColor(cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
        net.setInput(cv2.dnn.blobFromImage(rgb, 1 / 127.5, mean=(127.5, 127.5, 127.5)), "data")
        out.append(net.forward()[0])
    return np.array(out)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", default=PRETRAINED, help="the int8bq ONNX file (../shared/pretrained/README.md)")
    parser.add_argument("--out", default="runs/mobilefacenet_init.keras")
    parser.add_argument("--size", type=int, default=112, help="the network's input size in pixels")
    parser.add_argument("--check", action="store_true", help="compare with OpenCV's run of the ONNX file")
    args = parser.parse_args(argv)
    if not Path(args.onnx).is_file():
        raise SystemExit(f"pretrained model not found: {args.onnx} (see ../shared/pretrained/README.md)")
    model = build_mobilefacenet(args.onnx, size=args.size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"{model.count_params() / 1e6:.2f}M parameters, input {model.input_shape[1:]} at {args.size} px -> {out}")
    if args.check:
        faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
        ours = model.predict(unit_range(faces), verbose=0)
        theirs = opencv_logits(args.onnx, faces, args.size)[:, [RAF_ORDER.index(c) for c in FER2013_ORDER]]
        print(f"largest logit difference from OpenCV: {np.abs(ours - theirs).max():.4f} "
              f"(logits span {np.ptp(theirs):.1f}); same top class on {(ours.argmax(1) == theirs.argmax(1)).mean():.0%}")
    return out


if __name__ == "__main__":
    main()
