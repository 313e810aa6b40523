"""The emotion classifier and its training-time augmentation, in backend-agnostic Keras 3.

The classifier takes ``(H, W, 1)`` float inputs already scaled to [0, 1] and returns logits. Keeping
softmax out of the network lets calibration divide the logits by a fitted temperature at inference.
Augmentation lives in a separate model, so the saved classifier carries no training-only layers.
An ensemble is one more model around trained classifiers: the mean of their logits.
"""

from __future__ import annotations

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
    seed: int | None = None,
) -> keras.Sequential:
    """Random flips, shifts, rotations, zoom, brightness/contrast (and optional erasing) as layers.

    Active only when called with ``training=True``; inputs are floats in [0, 1].
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
    if erase:
        augment.append(layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), value_range=(0.0, 1.0), seed=seed, name="erase"))
    return keras.Sequential(augment, name="augment")


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
