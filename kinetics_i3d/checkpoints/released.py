"""Load DeepMind's released TF1 I3D checkpoints into `InceptionI3d`.

Layouts of the release (deepmind/kinetics-i3d, data/checkpoints/):
- scoped: `rgb_imagenet`, `flow_imagenet`, `rgb_scratch`, `flow_scratch`. Every variable sits under
  `RGB/inception_i3d/` or `Flow/inception_i3d/`; BatchNorm parameters have shape `[C]`.
- unscoped (`rgb_scratch_kin600`): the same names without the scope, BatchNorm parameters of
  shape `[1, 1, 1, 1, C]`, plus optimizer slots (`.../Momentum`) and `global_step`, ignored here.

Variable names per conv unit (Sonnet's Unit3D): `<path>/conv_3d/w` (and `conv_3d/b` for the
logits), `<path>/batch_norm/{beta,moving_mean,moving_variance}`.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import tensorflow as tf

from kinetics_i3d.checkpoints.paths import resolve_checkpoint
from kinetics_i3d.errors import UserError
from kinetics_i3d.modalities import MODALITIES, get_modality
from kinetics_i3d.models.i3d import VALID_ENDPOINTS, InceptionI3d

SCOPE_SUFFIX = "inception_i3d"
LOGITS_BIAS = "Logits/Conv3d_0c_1x1/conv_3d/b"
FIRST_CONV = "Conv3d_1a_7x7/conv_3d/w"
# Variables the unscoped layout holds that are not model weights.
_IGNORED = re.compile(r"(^|/)(Momentum|global_step)$")


@dataclasses.dataclass(frozen=True)
class ReleasedLayout:
    """How a released checkpoint names the variables of one model."""

    prefix: str  # "RGB/inception_i3d/" or "" (unscoped)
    modality: str  # "rgb" | "flow"
    bn_shape_5d: bool  # BatchNorm stored as [1, 1, 1, 1, C]
    num_classes: int | None  # from the logits bias, None if the checkpoint has no logits


@dataclasses.dataclass(frozen=True)
class UnitNaming:
    """How a checkpoint names one conv unit's variables under the unit's path."""

    kernel: str
    bias: str
    batch_norm: str


# Sonnet's Unit3D in DeepMind's release; TF-slim's conv2d + batch_norm (inception_v1.py).
RELEASE_NAMING = UnitNaming(kernel="conv_3d/w", bias="conv_3d/b", batch_norm="batch_norm")
SLIM_NAMING = UnitNaming(kernel="weights", bias="biases", batch_norm="BatchNorm")


def unit_variable_names(path: str, unit, naming: UnitNaming = RELEASE_NAMING) -> dict[str, object]:
    """Checkpoint names of one unit's Keras variables: `{"<path>/conv_3d/w": kernel, ...}`."""
    names = {f"{path}/{naming.kernel}": unit.conv.kernel}
    if unit.conv.use_bias:
        names[f"{path}/{naming.bias}"] = unit.conv.bias
    if unit.bn is not None:
        for stat in ("beta", "moving_mean", "moving_variance"):
            names[f"{path}/{naming.batch_norm}/{stat}"] = getattr(unit.bn, stat)
    return names


def model_variable_names(model) -> dict[str, object]:
    """Release-relative name -> Keras variable for every weight of `model` (an `InceptionI3d`)."""
    names: dict[str, object] = {}
    for path, unit in model.named_units():
        names.update(unit_variable_names(path, unit))
    return names


def release_shapes(modality: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    """Release-relative name -> shape of every weight of a full `InceptionI3d` (BN as `[C]`)."""
    model = InceptionI3d(num_classes=num_classes, modality=modality)
    return {name: tuple(var.shape) for name, var in model_variable_names(model).items()}


def split_release_name(name: str) -> tuple[str, str]:
    """`"Mixed_4b/Branch_1/Conv3d_0b_3x3/batch_norm/beta"` -> (unit path, `"batch_norm/beta"`)."""
    for part in (f"/{RELEASE_NAMING.kernel}", f"/{RELEASE_NAMING.bias}",
                 f"/{RELEASE_NAMING.batch_norm}/"):
        if part in name:
            unit, _, leaf = name.rpartition(part)
            return unit, name[len(unit) + 1:]
    raise ValueError(f"{name!r} is not a release variable name (<unit>/conv_3d/w, .../batch_norm/...)")


def released_variable_names(model) -> dict[str, object]:
    """Full scoped release name (`RGB/inception_i3d/...`) -> Keras variable, for writing checkpoints."""
    prefix = f"{model.modality.scope}/{SCOPE_SUFFIX}/"
    return {prefix + name: var for name, var in model_variable_names(model).items()}


def _open(checkpoint_prefix: str) -> tf.train.CheckpointReader:
    """A reader of the checkpoint `checkpoint_prefix` names (`paths.resolve_checkpoint`: a
    prefix, `.index` / `.data-*` file or checkpoint folder; `UserError` when a file is missing)."""
    prefix = resolve_checkpoint(checkpoint_prefix, flag=None)
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
        raise FileNotFoundError(
            f"cannot read a TF checkpoint at prefix {checkpoint_prefix!r} (expected files "
            f"{checkpoint_prefix}.index and {checkpoint_prefix}.data-*): {e}"
        ) from None


def detect_layout(checkpoint_prefix: str) -> ReleasedLayout:
    """Works out which release layout (and modality, class count) a checkpoint uses."""
    shapes = _open(checkpoint_prefix).get_variable_to_shape_map()
    scoped = [m for m in MODALITIES.values() if f"{m.scope}/{SCOPE_SUFFIX}/{FIRST_CONV}" in shapes]
    if len(scoped) > 1:
        raise UserError(
            f"checkpoint {checkpoint_prefix!r} holds both RGB and Flow I3D scopes; restore each "
            "stream into its own model (it is a joint checkpoint)"
        )
    if scoped:
        modality = scoped[0]
        prefix = f"{modality.scope}/{SCOPE_SUFFIX}/"
    elif FIRST_CONV in shapes:
        prefix = ""
        in_channels = shapes[FIRST_CONV][3]
        by_channels = {m.channels: m for m in MODALITIES.values()}
        if in_channels not in by_channels:
            raise UserError(
                f"checkpoint {checkpoint_prefix!r}: {FIRST_CONV} has {in_channels} input channels; "
                f"expected one of {sorted(by_channels)}"
            )
        modality = by_channels[in_channels]
    else:
        raise UserError(
            f"checkpoint {checkpoint_prefix!r} is not an I3D checkpoint of the release: no "
            f"'RGB/{SCOPE_SUFFIX}/{FIRST_CONV}', 'Flow/{SCOPE_SUFFIX}/{FIRST_CONV}' or '{FIRST_CONV}'"
        )
    bn = prefix + "Conv3d_1a_7x7/batch_norm/beta"
    bias = shapes.get(prefix + LOGITS_BIAS)
    return ReleasedLayout(
        prefix=prefix,
        modality=modality.name,
        bn_shape_5d=len(shapes.get(bn, [0])) == 5,
        num_classes=int(bias[0]) if bias else None,
    )


def read_num_classes(checkpoint_prefix: str) -> int:
    """The class count of a released checkpoint, from its logits bias shape."""
    layout = detect_layout(checkpoint_prefix)
    if layout.num_classes is None:
        raise UserError(f"checkpoint {checkpoint_prefix!r} has no {LOGITS_BIAS}")
    return layout.num_classes


def mismatches(
    wanted: dict[str, tuple[int, ...]],
    have: dict[str, tuple[int, ...]],
    *,
    owner: str = "the model",
    expected: str = "model shape",
    shape_ok=lambda name, have, want: have == want,
) -> list[str]:
    """What keeps a checkpoint (`have`: name -> shape) from loading into a model (`wanted`).

    One message each for missing and for extra variables (at most 10 names shown), then one per
    variable whose shape `shape_ok` rejects; empty when everything matches.
    """
    def listed(names):
        return ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")

    problems = []
    missing = sorted(set(wanted) - set(have))
    extra = sorted(set(have) - set(wanted))
    if missing:
        problems.append(f"{len(missing)} model variable(s) missing from the checkpoint: "
                        + listed(missing))
    if extra:
        problems.append(f"{len(extra)} checkpoint variable(s) {owner} does not have: "
                        + listed(extra))
    for name in sorted(set(wanted) & set(have)):
        if not shape_ok(name, tuple(have[name]), tuple(wanted[name])):
            problems.append(f"{name}: checkpoint shape {list(have[name])}, "
                            f"{expected} {list(wanted[name])}")
    return problems


def restore_released(model, checkpoint_prefix: str) -> ReleasedLayout:
    """Loads a released (or release-layout) checkpoint into `model`, all or nothing.

    Every model variable must be in the checkpoint with the same shape (BatchNorm `[1,1,1,1,C]` is
    accepted as `[C]`), and every checkpoint variable must be used, except optimizer slots,
    `global_step`, and the layers after a truncated model's `final_endpoint` (a `Mixed_5c`
    feature model reads a full checkpoint and leaves its `Logits` unread). Any mismatch raises
    `ValueError` naming the variables and shapes; nothing is assigned until all checks pass.
    Returns the detected layout.
    """
    layout = detect_layout(checkpoint_prefix)
    if layout.modality != model.modality.name:
        raise ValueError(
            f"checkpoint {checkpoint_prefix!r} is a {layout.modality} checkpoint "
            f"({get_modality(layout.modality).channels} input channels) but the model is "
            f"{model.modality.name}; build InceptionI3d(modality={layout.modality!r})"
        )
    reader = _open(checkpoint_prefix)
    beyond = set(VALID_ENDPOINTS[VALID_ENDPOINTS.index(model.final_endpoint) + 1:])

    def read(name: str) -> bool:
        if _IGNORED.search(name):
            return False
        return not name.startswith(layout.prefix) or (
            name[len(layout.prefix):].split("/", 1)[0] not in beyond)

    have = {name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()
            if read(name)}
    wanted = {layout.prefix + name: var for name, var in model_variable_names(model).items()}

    def shape_ok(name, have_shape, want):
        # The Kinetics-600 layout stores BatchNorm parameters as [1, 1, 1, 1, C].
        return have_shape == want or (layout.bn_shape_5d and "/batch_norm/" in name
                                      and have_shape == (1,) * (5 - len(want)) + want)

    problems = mismatches({n: tuple(v.shape) for n, v in wanted.items()}, have,
                          shape_ok=shape_ok)
    if problems:
        raise ValueError(f"cannot restore {checkpoint_prefix!r} into {model.name}: "
                         + "; ".join(problems))
    for name, var in wanted.items():
        var.assign(np.reshape(reader.get_tensor(name), var.shape).astype(var.dtype))
    return layout


def write_checkpoint(values: dict[str, np.ndarray], checkpoint_prefix: str) -> str:
    """Writes `{name: array}` as a TF1-style name-based checkpoint (`.index` + `.data-*`).

    The result reads with `tf.train.load_checkpoint` and `restore_released` exactly as the
    release's files do. Parent folders are created. Returns the prefix.
    """
    if not values:
        raise ValueError("write_checkpoint: no variables to write")
    parent = checkpoint_prefix.rsplit("/", 1)[0] if "/" in checkpoint_prefix else ""
    if parent:
        tf.io.gfile.makedirs(parent)
    names = sorted(values)
    tf.raw_ops.SaveV2(
        prefix=checkpoint_prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.convert_to_tensor(values[n]) for n in names],
    )
    return checkpoint_prefix


def export_released(model) -> dict[str, np.ndarray]:
    """The model's weights under their scoped release names (`RGB/inception_i3d/...`)."""
    return {name: var.numpy() for name, var in released_variable_names(model).items()}


def load_released(checkpoint_prefix: str, **model_kwargs):
    """An `InceptionI3d` with the checkpoint's modality and class count, restored from it.

    `model_kwargs` go to the constructor (e.g. `final_endpoint="Mixed_5c"`, `dropout_rate=0.0`).
    """
    layout = detect_layout(checkpoint_prefix)
    if layout.num_classes is None:
        raise ValueError(f"checkpoint {checkpoint_prefix!r} has no {LOGITS_BIAS}")
    model_kwargs.setdefault("modality", layout.modality)
    model_kwargs.setdefault("num_classes", layout.num_classes)
    model = InceptionI3d(**model_kwargs)
    restore_released(model, checkpoint_prefix)
    return model
