"""Trainer-run checkpoints: their layout on disk and how to read them (the format's one home).

A run's `--model_dir` holds `ckpt/` (the newest checkpoints: step, optimizer, schedule and the
model), `best/` (the lowest validation loss so far) and, for I3D, `released/model.ckpt` (the
weights in DeepMind's layout). The model's weights are saved under `MODEL_KEY` keyed by Keras
path (`model_weights`: `tf.train.Checkpoint(model=model)` would miss layers Keras 3 keeps in
Python lists), so any reader can restore them without the trainer (`checkpoint_key`).

Written by the trainer (`kinetics_i3d.train.loop.Trainer`), read by `--init_checkpoint`
(`restore_run_weights`) and by evaluation (`load_trained_model`, `find_trainer_checkpoint`);
neither reader imports the trainer.
"""
from __future__ import annotations

import os

import keras
import tensorflow as tf
from absl import logging

from kinetics_i3d.checkpoints.paths import resolve_checkpoint

CHECKPOINT_SUBDIR = "ckpt"
BEST_SUBDIR = "best"
RELEASED_SUBDIR = "released"
MODEL_KEY = "model"  # the model's weights in the trainer's checkpoints
CHECKPOINT_CHOICES = ("auto", "best", "latest")


def classifier_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The last, class-scoring layer(s) of `model`, as its class's `classifier_layers()` gives
    them: I3D's `Logits/Conv3d_0c_1x1`, C3D's / ConvNet+LSTM's / 3D-Fused's `classifier`,
    Two-Stream's `rgb_classifier` and `flow_classifier`, Two-Stream I3D's two streams' logits
    (Table 4 'Fixed' trains all of a model's). Raises `ValueError` when the class has no such
    method or the model no classifier (a feature model)."""
    method = getattr(type(model), "classifier_layers", None)
    if method is None:
        raise ValueError(f"{type(model).__name__} has no classifier_layers() method (every model "
                         f"class in kinetics_i3d.specs.SPECS must expose its classifier layers)")
    layers = list(method(model))
    if not layers:
        raise ValueError(f"{model.name} has no classifier layer (a feature model: its "
                         f"final_endpoint stops before the logits)")
    return layers


def classifier_layer(model: keras.Model) -> keras.layers.Layer:
    """The single classifier of `model` (`classifier_layers`); raises for two-classifier models."""
    layers = classifier_layers(model)
    if len(layers) != 1:
        raise ValueError(f"{model.name} has {len(layers)} classifiers; use classifier_layers")
    return layers[0]


def model_weights(model: keras.Model) -> dict[str, keras.Variable]:
    """Every weight of `model` (trainable and BatchNorm statistics) keyed by its Keras path.

    What the trainer's checkpoints save as `model`: `tf.train.Checkpoint(model=model)` does not
    reach layers a Keras 3 model holds in Python lists (I3D's trunk, C3D's convs, Inception-v1's
    towers), so it would save only the classifier.
    """
    weights = {}
    for variable in model.weights:
        if variable.path in weights:
            raise ValueError(f"{model.name}: two weights share the path {variable.path!r}")
        weights[variable.path] = variable
    return weights


def checkpoint_key(path: str) -> str:
    """The key `tf.train.Checkpoint(model=model_weights(m))` stores the weight `path` under
    (TF escapes '.' as '..' and '/' as '.S' in object names)."""
    name = path.replace(".", "..").replace("/", ".S")
    return f"{MODEL_KEY}/{name}/.ATTRIBUTES/VARIABLE_VALUE"


def restore_run_weights(model: keras.Model, prefix: str, model_flag: str | None = None) -> str:
    """Loads the weights of another run's trainer checkpoint `prefix` into `model` (same
    architecture). Same class count: everything ("all"); otherwise (a Kinetics-400 run
    fine-tuned on UCF-101, Table 4) all but the classifier(s), which keep their fresh
    initialisation ("trunk"). Raises `UserError` naming a weight the checkpoint lacks and the
    model (`model_flag`: its registry name, `--model`; default the Keras name)."""
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    weights = model_weights(model)
    head = {v.path for layer in classifier_layers(model) for v in layer.weights}
    same_head = all(shapes.get(checkpoint_key(p)) == list(weights[p].shape) for p in head)
    subset = {p: v for p, v in weights.items() if same_head or p not in head}
    missing = [p for p in subset if checkpoint_key(p) not in shapes]
    if missing:
        from kinetics_i3d.errors import UserError

        raise UserError(f"--init_checkpoint={prefix!r} has no weight {missing[0]!r} of "
                        f"--model={model_flag or model.name} ({len(missing)} of {len(subset)} "
                        f"missing): a run of another architecture?")
    status = tf.train.Checkpoint(**{MODEL_KEY: subset}).restore(prefix)
    status.expect_partial().assert_existing_objects_matched()
    logging.info("init: restored %d of %d weights from run checkpoint %s%s", len(subset),
                 len(weights), prefix,
                 "" if same_head else " (different class count: classifier freshly initialised)")
    return "all" if same_head else "trunk"


def find_trainer_checkpoint(model_dir: str, which: str = "auto") -> str:
    """The checkpoint prefix a trainer `--model_dir` holds.

    which: "latest" (newest of `<model_dir>/ckpt`), "best" (`<model_dir>/best`, the lowest
      validation loss), "auto" (best if there is one, else latest), or a checkpoint prefix.
    Raises `FileNotFoundError` naming the directory when there is no such checkpoint.
    """
    if which not in CHECKPOINT_CHOICES:
        return resolve_checkpoint(which, "checkpoint")  # a prefix, .index/.data-* or folder
    subdirs = {"best": [BEST_SUBDIR], "latest": [CHECKPOINT_SUBDIR],
               "auto": [BEST_SUBDIR, CHECKPOINT_SUBDIR]}[which]
    for sub in subdirs:
        latest = tf.train.latest_checkpoint(os.path.join(model_dir, sub))
        if latest:
            return resolve_checkpoint(latest, "model_dir")  # names a missing .data file
    raise FileNotFoundError(
        f"--model_dir={model_dir!r} holds no trainer checkpoint in "
        f"{' or '.join(os.path.join(model_dir, d) for d in subdirs)} (--checkpoint={which})")


def load_trained_model(model_name: str, model_dir: str, which: str = "auto",
                       num_classes: int | None = None, model_kwargs: dict | None = None
                       ) -> tuple[keras.Model, str]:
    """A registry model (`kinetics_i3d.specs`) with the weights of a trainer run, for inference
    (dropout 0).

    Only the model's weights are read (`MODEL_KEY`, keyed by Keras path); the run's optimizer,
    step and schedule are ignored. Every weight of the model must be in the checkpoint with the
    same shape. Returns (model, checkpoint prefix).

    Args:
      model_name: a video model of `kinetics_i3d.specs` (`--model`).
      model_dir: the trainer's `--model_dir`.
      which: see `find_trainer_checkpoint`.
      num_classes: expected class count (None: the checkpoint's classifier's).
      model_kwargs: extra builder arguments the run used (e.g. `lstm_units`; the trainer's own
        runs use the defaults).
    Raises:
      FileNotFoundError: no checkpoint in `model_dir`.
      ClassCountError: the checkpoint has another class count than `num_classes`.
      UserError: an unknown model, or the checkpoint is not one of `model_name` (missing or
        mis-shaped weights).
    """
    from kinetics_i3d.errors import ClassCountError, UserError
    from kinetics_i3d.specs import get_spec, video_names

    spec = get_spec(model_name) if model_name in video_names() else None
    if spec is None:
        raise UserError(f"--model={model_name!r}: expected one of {video_names()}")
    path = find_trainer_checkpoint(model_dir, which)
    shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    where = f"checkpoint {path!r} (--model_dir={model_dir!r})"

    def build(count: int) -> keras.Model:
        return spec.build(count, **{"dropout_rate": 0.0, **(model_kwargs or {})})

    model = build(num_classes or 1)
    # The classifier's bias [K] (a Dense's, or I3D's Logits unit's conv) gives the class count.
    bias = [w for w in classifier_layers(model)[0].weights if len(w.shape) == 1]
    bias_key = checkpoint_key(bias[0].path)
    if bias_key not in shapes or len(shapes[bias_key]) != 1:
        raise UserError(f"{where} has no classifier weight {bias_key!r}: not a trainer "
                        f"checkpoint of --model={model_name}")
    have = int(shapes[bias_key][0])
    if num_classes is not None and have != num_classes:
        raise ClassCountError(f"{where} has {have} classes, expected {num_classes} "
                              f"(--num_classes / label map)")
    if have != model.num_classes:
        model = build(have)
    weights = model_weights(model)
    for weight_path, weight in weights.items():
        saved = shapes.get(checkpoint_key(weight_path))
        if saved != list(weight.shape):
            raise UserError(
                f"{where} does not match --model={model_name} with {have} classes: weight "
                f"{weight_path!r} is {list(weight.shape)} in the model, "
                f"{'missing' if saved is None else saved} in the checkpoint")
    status = tf.train.Checkpoint(**{MODEL_KEY: weights}).restore(path)
    status.expect_partial().assert_existing_objects_matched()
    logging.info("restored %s (%d classes, %d weights) from %s", model_name, have, len(weights),
                 path)
    return model, path
