"""Knowledge distillation: a student classifier learns from labels and from frozen teachers' logits.

The training model outputs the student's and the teachers' averaged logits side by side, ``(N, 2 * C)``,
so one Keras loss sees both (backend-agnostic, no custom train step) and the student stays a plain
sub-model named ``fer_cnn`` that is saved and exported like any other run's classifier.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="train")
class Frozen(keras.layers.Layer):
    """A trained model run in inference mode (no dropout, batch-norm statistics fixed), never updated.

    A functional model passes its own ``training`` flag to every layer, overriding a ``training=False``
    given when the graph was built; a layer that makes the call itself keeps it. With ``mirror`` it
    returns the mean of its logits on the image and on its left-right mirror (a stronger teacher, as
    flip test-time augmentation is, for twice the teacher's cost).
    """

    def __init__(self, model: keras.Model, mirror: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.frozen = model
        self.frozen.trainable = False
        self.trainable = False
        self.mirror = mirror

    def call(self, inputs):
        logits = self.frozen(inputs, training=False)
        if not self.mirror:
            return logits
        mirrored = self.frozen(ops.flip(inputs, axis=2), training=False)  # NHWC: axis 2 is width
        return (logits + mirrored) / 2.0

    def compute_output_shape(self, input_shape):
        return self.frozen.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "model": keras.saving.serialize_keras_object(self.frozen), "mirror": self.mirror}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)


def load_teachers(paths: list[str], mirror: bool = False) -> list[Frozen]:
    """Trained classifiers (``best.keras``), frozen, each named ``teacherN`` beside the student;
    ``mirror``: each teacher averages its logits over the image and its mirror (see :class:`Frozen`)."""
    teachers = []
    for i, path in enumerate(paths):
        if not Path(path).is_file():
            raise SystemExit(f"teacher not found: {path}")
        teachers.append(Frozen(keras.models.load_model(path, compile=False), mirror=mirror, name=f"teacher{i}"))
    return teachers


def with_teachers(student_logits, augmented, teachers: list[Frozen]):
    """Concatenate the student's logits with the teachers' mean logits on the same augmented input."""
    teacher_logits = [teacher(augmented) for teacher in teachers]
    mean = teacher_logits[0] if len(teachers) == 1 else keras.layers.Average(name="teacher_mean")(teacher_logits)
    return keras.layers.Concatenate(name="student_teacher", dtype="float32")([student_logits, mean])


@keras.saving.register_keras_serializable(package="train")
class DistillationLoss(keras.losses.Loss):
    """``(1 - w) * CE(labels, student) + w * T^2 * CE(softmax(teacher / T), student / T)``.

    The T^2 factor keeps the soft term's gradients on the same scale whatever the temperature
    (Hinton et al., 2015). ``y_pred`` is ``[student logits, teacher logits]`` along the last axis.
    """

    def __init__(self, weight: float, temperature: float, label_smoothing: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.weight, self.temperature, self.label_smoothing = weight, temperature, label_smoothing

    def call(self, y_true, y_pred):
        classes = ops.shape(y_true)[-1]
        student, teacher = y_pred[:, :classes], y_pred[:, classes:]
        hard = keras.losses.categorical_crossentropy(
            y_true, student, from_logits=True, label_smoothing=self.label_smoothing
        )
        t = self.temperature
        soft_targets = ops.softmax(teacher / t, axis=-1)
        soft = -ops.sum(soft_targets * ops.log_softmax(student / t, axis=-1), axis=-1) * t * t
        return (1.0 - self.weight) * hard + self.weight * soft

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "temperature": self.temperature,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="train")
class StudentAccuracy(keras.metrics.Metric):
    """Top-1 accuracy of the student half of ``[student logits, teacher logits]``."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        classes = ops.shape(y_true)[-1]
        hits = ops.cast(ops.argmax(y_pred[:, :classes], axis=-1) == ops.argmax(y_true, axis=-1), "float32")
        self.correct.assign_add(ops.sum(hits))
        self.count.assign_add(ops.cast(ops.shape(hits)[0], "float32"))

    def result(self):
        return self.correct / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)
