"""`--init_checkpoint`: what kind of checkpoint a path holds, and loading it into a fresh model.

Three kinds (`kinetics_i3d.specs.INIT_*`), told apart by the variables a checkpoint holds:
- `INIT_RUN`: a trainer checkpoint (`<model_dir>/ckpt`, `best`: weights under `run.MODEL_KEY`)
  of the same architecture; `run.restore_run_weights`;
- `INIT_RELEASED`: DeepMind's released I3D layout (`.../Conv3d_1a_7x7/conv_3d/w`: the release's
  Kinetics checkpoints, `tools/inflate_inception_v1.py`'s output, a run's
  `<model_dir>/released/model.ckpt`); `restore_released`, trunk only when the class count differs;
- `INIT_IMAGENET`: TF-slim's Inception-v1 (`InceptionV1/Conv2d_1a_7x7/weights`, sec. 2.5:
  "ImageNet-pretrained Inception-V1 as base network") into every tower of `model.imagenet_towers`.

Which kinds a model takes is its spec's `init_sources`; nothing here switches on a model name or
class. `export_released_checkpoint` writes a run in the released layout when the spec says so
(`released_export`).
"""
from __future__ import annotations

import os

import keras
import tensorflow as tf
from absl import logging

from kinetics_i3d import specs
from kinetics_i3d.checkpoints.inflation import SLIM_FIRST_CONV, restore_slim_inception_v1
from kinetics_i3d.checkpoints.paths import resolve_checkpoint
from kinetics_i3d.checkpoints.released import (
    FIRST_CONV, export_released, read_num_classes, restore_released, write_checkpoint)
from kinetics_i3d.checkpoints.run import (
    MODEL_KEY, RELEASED_SUBDIR, classifier_layers, restore_run_weights)
from kinetics_i3d.errors import UserError

# How errors and logs name each kind.
KIND_NAMES = {
    specs.INIT_RUN: "trainer-run",
    specs.INIT_RELEASED: "released-layout I3D",
    specs.INIT_IMAGENET: "TF-slim ImageNet Inception-v1",
}


def checkpoint_kind(prefix: str) -> str:
    """The `specs.INIT_*` kind of the checkpoint `prefix` (already resolved) holds, from its
    variable names. Raises `UserError` naming `--init_checkpoint` when it is none of them."""
    names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    if any(name.startswith(MODEL_KEY + "/") for name in names):
        return specs.INIT_RUN
    if any(name == FIRST_CONV or name.endswith("/" + FIRST_CONV) for name in names):
        return specs.INIT_RELEASED
    if SLIM_FIRST_CONV in names:
        return specs.INIT_IMAGENET
    raise UserError(f"--init_checkpoint={prefix!r} is not a {', a '.join(KIND_NAMES.values())} "
                    f"checkpoint (no {MODEL_KEY}/..., {FIRST_CONV} or {SLIM_FIRST_CONV} variable)")


def initialize_from_checkpoint(model: keras.Model, prefix: str, spec: specs.ModelSpec) -> str:
    """Loads the pre-trained weights `--init_checkpoint` names into `model` (built from `spec`);
    returns what it restored: "all", "trunk" (a different class count: the classifier keeps its
    fresh initialisation, Table 4 fine-tuning from Kinetics) or "imagenet towers".

    prefix: a checkpoint prefix, its `.index` / `.data-*` file or a folder
      (`checkpoints.resolve_checkpoint`: a run's `ckpt` / `best` folder gives its newest).
    Raises `UserError` (one line naming --init_checkpoint, the kind found and the kinds
    `spec.init_sources` allows) when the model does not take that kind or a run checkpoint is
    of another architecture, `ValueError` naming a weight when a released checkpoint does not
    fit the model.
    """
    prefix = resolve_checkpoint(prefix, "init_checkpoint")
    kind = checkpoint_kind(prefix)
    if kind not in spec.init_sources:
        allowed = " or ".join(KIND_NAMES[k] for k in spec.init_sources)
        raise UserError(f"--init_checkpoint={prefix!r} is a {KIND_NAMES[kind]} checkpoint; "
                        f"--model={spec.name} takes only {allowed} checkpoints")
    if kind == specs.INIT_RUN:
        return restore_run_weights(model, prefix, spec.name)
    if kind == specs.INIT_RELEASED:
        return _restore_released_or_trunk(model, prefix)
    for tower in model.imagenet_towers:
        restore_slim_inception_v1(tower, prefix, skip_logits=True)
    return "imagenet towers"


def _restore_released_or_trunk(model: keras.Model, prefix: str) -> str:
    """A released-layout checkpoint into a released-layout model (`InceptionI3d`): everything
    when the class counts agree ("all"); otherwise the trunk ("trunk"): a feature model of the
    same class (`final_endpoint="Mixed_5c"`) reads any released-layout checkpoint, with or
    without logits, and its units are copied into every unit but the classifier."""
    try:
        ckpt_classes = read_num_classes(prefix)
    except ValueError:
        ckpt_classes = None
    if ckpt_classes == model.num_classes:
        restore_released(model, prefix)
        return "all"
    source = type(model)(num_classes=1, modality=model.modality.name, final_endpoint="Mixed_5c")
    restore_released(source, prefix)
    source_units = dict(source.named_units())
    classifiers = {id(layer) for layer in classifier_layers(model)}
    copied = 0
    for path, unit in model.named_units():
        if id(unit) in classifiers:
            continue
        for target, value in zip(unit.weights, source_units[path].weights, strict=True):
            target.assign(value)
            copied += 1
    logging.info("init: restored %d trunk variables from %s (checkpoint has %s classes, model %d; "
                 "classifier freshly initialised)", copied, prefix, ckpt_classes,
                 model.num_classes)
    return "trunk"


def export_released_checkpoint(model: keras.Model, spec: specs.ModelSpec,
                               model_dir: str) -> str | None:
    """Writes `model`'s weights in the release's layout to `<model_dir>/released/model.ckpt`
    (what `--init_checkpoint` of a fine-tuning run and the tools take) when `spec.released_export`;
    returns the prefix, or None for a model whose spec does not export one."""
    if not spec.released_export:
        return None
    return write_checkpoint(export_released(model),
                            os.path.join(model_dir, RELEASED_SUBDIR, "model.ckpt"))
