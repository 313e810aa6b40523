"""The emotion classifier and its training-time augmentation, in backend-agnostic Keras 3.

The classifier takes ``(H, W, 1)`` float inputs already scaled to [0, 1] and returns logits. Keeping
softmax out of the network lets calibration divide the logits by a fitted temperature at inference.
Augmentation lives in a separate model, so the saved classifier carries no training-only layers.
An ensemble is one more model around trained classifiers: the mean of their logits.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers


def conv_block(x, filters: int, convs: int, dropout: float, name: str):
    """``convs`` x (3x3 conv, batch norm, ReLU), then 2x2 max pooling and dropout."""
    for i in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return layers.Dropout(dropout, name=f"{name}_drop")(x) if dropout else x


def build_classifier(
    input_size: int = 48,
    num_classes: int = 7,
    widths: tuple[int, ...] = (32, 64, 128, 256),
    convs_per_block: int = 2,
    block_dropout: float = 0.1,
    head_units: int = 256,
    head_dropout: float = 0.5,
) -> keras.Model:
    """A VGG-style CNN: one conv block per width, global average pooling, a dense head, logits."""
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = inputs
    for i, width in enumerate(widths):
        x = conv_block(x, width, convs_per_block, block_dropout, name=f"block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(head_units, use_bias=False, name="head_dense")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Activation("relu", name="head_relu")(x)
    x = layers.Dropout(head_dropout, name="head_drop")(x)
    logits = layers.Dense(num_classes, name="logits", dtype="float32")(x)  # float32 even under mixed precision
    return keras.Model(inputs, logits, name="fer_cnn")


def build_augmenter(
    translate: float = 0.1,
    rotate_degrees: float = 10.0,
    zoom: float = 0.1,
    contrast: float = 0.3,
    brightness: float = 0.2,
    erase: bool = False,
    blur: float = 0.0,
    low_res: float = 0.0,
    noise: float = 0.0,
    seed: int | None = None,
) -> keras.Sequential:
    """Random flips, shifts, rotations, zoom, brightness/contrast (and optional erasing) as layers.

    ``blur``, ``low_res`` and ``noise`` make some faces look as real photos reach the classifier:
    out of focus (a third of the faces, Gaussian sigma between 0.3 and ``blur`` pixels, one draw a batch as
    Keras' layer does), cut from a smaller photo
    (that share of the faces downscaled to 24-40 px and back) and with sensor noise (standard deviation
    ``noise``); 0 leaves each out. Active only when called with ``training=True``; inputs are floats in [0, 1].
    """
    # explicit names: training keys each layer's random state on its name (see train.ReseedEachEpoch)
    augment = [
        layers.RandomFlip("horizontal", seed=seed, name="flip"),
        layers.RandomTranslation(translate, translate, fill_mode="reflect", seed=seed, name="translate"),
        layers.RandomRotation(rotate_degrees / 360.0, fill_mode="reflect", seed=seed, name="rotate"),
        layers.RandomZoom(zoom, zoom, fill_mode="reflect", seed=seed, name="zoom"),
        layers.RandomBrightness(brightness, value_range=(0.0, 1.0), seed=seed, name="brightness"),
        layers.RandomContrast(contrast, value_range=(0.0, 1.0), seed=seed, name="contrast"),
    ]
    if blur > 0:
        augment.append(layers.RandomGaussianBlur(
            factor=(1 / 3, 1 / 3), kernel_size=5, sigma=(0.3, blur), value_range=(0.0, 1.0), seed=seed, name="blur"
        ))
    if low_res > 0:
        augment.append(RandomLowResolution(low_res, seed=seed, name="low_res"))
    if noise > 0:
        augment.append(layers.GaussianNoise(noise, seed=seed, name="noise"))
    if erase:
        augment.append(layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), value_range=(0.0, 1.0), seed=seed, name="erase"))
    if keras.backend.backend() == "jax":
        # Keras 3.15 marks translate, rotate and zoom as not jit-compilable on every backend, and one
        # such layer leaves the whole JAX training step eager: each op dispatched from Python while an
        # accelerator waits. Under JAX they compile and still draw a new transform each step
        # (tests/test_train.py::test_jax_compiles_the_augmenter checks both).
        for layer in augment:
            layer.supports_jit = True
    return keras.Sequential(augment, name="augment")


# the sizes (px) a face "cut from a smaller photo" is shrunk to before it is brought back to 48
LOW_RES_SIZES = (24, 32, 40)


@keras.saving.register_keras_serializable(package="train")
class RandomLowResolution(layers.Layer):
    """A share of the images (``rate``) downscaled to one of ``sizes`` pixels and upscaled back.

    A face in a real photo is often smaller than the 48 px the classifier sees, so it arrives upscaled
    and soft; FER2013's faces rarely are. Every size is computed for the whole batch and each image
    picks one (or its original), which keeps every shape static, so the layer runs on any backend.
    """

    def __init__(self, rate: float, sizes: tuple[int, ...] = LOW_RES_SIZES, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.sizes, self.seed = float(rate), tuple(int(s) for s in sizes), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        height, width = images.shape[1], images.shape[2]
        versions = [images] + [
            keras.ops.image.resize(keras.ops.image.resize(images, (size, size), interpolation="bilinear", antialias=True),
                                   (height, width), interpolation="bilinear")
            for size in self.sizes
        ]
        batch = keras.ops.shape(images)[0]
        shrink = keras.random.uniform((batch,), seed=self.seed_generator) < self.rate
        size = keras.random.randint((batch,), 1, len(versions), seed=self.seed_generator)
        choice = keras.ops.one_hot(keras.ops.where(shrink, size, 0), len(versions), dtype=images.dtype)
        return keras.ops.einsum("nk,nkhwc->nhwc", choice, keras.ops.stack(versions, axis=1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "sizes": list(self.sizes), "seed": self.seed}


def widen_into(source: keras.Model, target: keras.Model) -> None:
    """Give ``target`` (the same network, each layer as wide or wider) ``source``'s function.

    Net2Net-style widening that keeps the trained model's answers exactly: each trained weight goes to
    the leading slice of its wider copy, the new channels keep ``target``'s fresh initialisation, and
    the weights from a new channel into a trained one start at zero, so the new channels see the trained
    features but change nothing until training gives them a use. It lets a wider network start where
    a trained one stands, instead of from scratch, which this CPU could not afford.
    """
    layers_by_name = {layer.name: layer for layer in target.layers}
    for layer in source.layers:
        if not layer.weights:
            continue
        if layer.name not in layers_by_name:
            raise ValueError(f"cannot widen: {target.name} has no layer {layer.name!r}")
        wide = layers_by_name[layer.name]
        values = []
        for old, new in zip(layer.get_weights(), wide.get_weights(), strict=True):
            if old.ndim != new.ndim or any(o > n for o, n in zip(old.shape, new.shape)):
                raise ValueError(f"cannot widen {layer.name}: {old.shape} into {new.shape}")
            if old.ndim >= 2:  # a kernel (..., in, out): nothing flows from a new input into a trained output
                new[..., old.shape[-2]:, : old.shape[-1]] = 0
            new[tuple(slice(0, n) for n in old.shape)] = old
            values.append(new)
        wide.set_weights(values)


ENSEMBLE_NAME = "fer_ensemble"


def build_ensemble(members: list[keras.Model]) -> keras.Model:
    """One model: the same input through every member, the mean of their logits out."""
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    shapes = {tuple(m.input_shape[1:]) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"members take different inputs: {sorted(shapes)}")
    image = keras.Input(shapes.pop(), name="face")
    # each member wrapped under its own name: members trained apart share their layers' names
    logits = [keras.Model(m.inputs, m.output, name=f"member{i}")(image) for i, m in enumerate(members)]
    mean = keras.layers.Average(name="logits", dtype="float32")(logits)
    return keras.Model(image, mean, name=ENSEMBLE_NAME)


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The member classifiers of an ensemble built here; ``[model]`` for a single classifier."""
    if model.name != ENSEMBLE_NAME:
        return [model]
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def member_index(path: str) -> tuple[str, int | None]:
    """``ensemble.keras[2]`` -> (``ensemble.keras``, 2): member 2 of an ensemble; a plain path -> (path, None)."""
    if path.endswith("]") and "[" in path:
        path, index = path[:-1].rsplit("[", 1)
        return path, int(index)
    return path, None


def load_member(path: str | Path) -> keras.Model:
    """A classifier from a run's ``best.keras`` or a model folder's ``model.keras`` (or the folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    return keras.models.load_model(path, compile=False)
