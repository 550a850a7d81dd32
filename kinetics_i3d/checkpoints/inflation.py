"""TF-slim ImageNet Inception-v1 checkpoints, and their inflation into I3D (paper sec. 2.4).

slim names (tensorflow/models research/slim/nets/inception_v1.py, checkpoint
`inception_v1_2016_08_28`), per conv unit under the `InceptionV1/` scope:
`<path>/weights` `[kh, kw, C_in, C_out]`, `<path>/BatchNorm/{beta,moving_mean,moving_variance}`
`[C_out]` (slim BatchNorm: center, no scale, epsilon 0.001), and for the classifier
`Logits/Conv2d_0c_1x1/{weights,biases}` (1001 classes). `global_step` and optimizer / moving
average slots are ignored.

Inflation ("Bootstrapping 3D filters from 2D filters"): every N x N 2D kernel becomes the
N_t x N x N kernel of the same I3D unit (N_t read from `InceptionI3d`), either repeated along time
and divided by N_t ("repeat", the paper's rule) or placed at the middle time step with zeros
elsewhere ("centre"). Both keep the boring-video fixed point: on a video made of one image
repeated, every I3D time step (away from the zero-padded temporal border, for "repeat") equals the
2D network's output on the image.
"""
from __future__ import annotations

import re

import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d.checkpoints.released import (
    SCOPE_SUFFIX,
    SLIM_NAMING,
    _open,
    mismatches,
    unit_variable_names,
)
from kinetics_i3d.layers import InceptionModule, Unit
from kinetics_i3d.modalities import get_modality
from kinetics_i3d.models.i3d import InceptionI3d
from kinetics_i3d.models.inception_v1 import ENDPOINTS, InceptionV1

SLIM_SCOPE = "InceptionV1"
SLIM_LOGITS = "Logits/Conv2d_0c_1x1"
SLIM_FIRST_CONV = f"{SLIM_SCOPE}/Conv2d_1a_7x7/weights"
INFLATION_METHODS = ("repeat", "centre")
# Not model weights: step counter, optimizer slots, moving-average shadows.
_IGNORED = re.compile(
    r"(^|/)global_step$|/(ExponentialMovingAverage|Momentum|RMSProp(_\d+)?|Adam(_\d+)?)$"
)


# ---------------------------------------------------------------------------------------------
# slim names <-> InceptionV1


def slim_variable_names(model2d) -> dict[str, object]:
    """Full slim name (`InceptionV1/Conv2d_1a_7x7/weights`) -> Keras variable of an `InceptionV1`."""
    names: dict[str, object] = {}
    for path, unit in model2d.named_units():
        names.update(
            {f"{SLIM_SCOPE}/{n}": v
             for n, v in unit_variable_names(path, unit, SLIM_NAMING).items()}
        )
    return names


def export_slim(model2d) -> dict[str, np.ndarray]:
    """The weights of an `InceptionV1` under their slim names, e.g. for `write_checkpoint`."""
    return {name: var.numpy() for name, var in slim_variable_names(model2d).items()}


def _is_logits(name: str) -> bool:
    return name.startswith(f"{SLIM_SCOPE}/{SLIM_LOGITS}/")


def _endpoint_index(name: str) -> int:
    """Position in `ENDPOINTS` of the endpoint a slim name belongs to (-1 if none)."""
    parts = name.split("/")
    if len(parts) > 1 and parts[0] == SLIM_SCOPE and parts[1] in ENDPOINTS:
        return ENDPOINTS.index(parts[1])
    return -1


def _check_slim(
    checkpoint_prefix: str, wanted: dict[str, tuple[int, ...]], skip_after: str | None
) -> tf.train.CheckpointReader:
    """Raises `ValueError` naming every missing / extra / wrongly shaped variable.

    Checkpoint variables of endpoints after `skip_after` (layers the model does not build) are
    not read and not reported.
    """
    reader = _open(checkpoint_prefix)
    last = len(ENDPOINTS) if skip_after is None else ENDPOINTS.index(skip_after)
    have = {
        name: tuple(shape)
        for name, shape in reader.get_variable_to_shape_map().items()
        if not _IGNORED.search(name) and _endpoint_index(name) <= last
    }
    problems = mismatches(wanted, have, owner="Inception-v1", expected="expected")
    if problems:
        raise ValueError(
            f"{checkpoint_prefix!r} is not a TF-slim InceptionV1 checkpoint matching the model "
            "(tensorflow/models slim inception_v1, e.g. inception_v1_2016_08_28): "
            + "; ".join(problems)
        )
    return reader


def restore_slim_inception_v1(model2d, checkpoint_prefix: str, skip_logits: bool = False) -> None:
    """Loads a TF-slim `InceptionV1` checkpoint into an `InceptionV1`, all or nothing.

    Every model variable must be in the checkpoint with the same shape and every checkpoint
    variable must be used (`global_step`, optimizer slots and `ExponentialMovingAverage` shadows
    aside); otherwise `ValueError` names them, and nothing is assigned. Checkpoint variables of
    layers the model does not build (after its `final_endpoint`) are not read, nor the logits
    when `skip_logits=True` (the model's logits keep their initial values, e.g. for a new class
    count).

    A model with `input_channels` other than 3 (e.g. the Two-Stream baseline's 20 stacked flow
    channels) gets `Conv2d_1a_7x7/weights` from the checkpoint's RGB kernel through
    `flow_input_kernel` (mean over RGB, repeated); every other variable is copied.
    """
    variables = slim_variable_names(model2d)
    if skip_logits:
        variables = {n: v for n, v in variables.items() if not _is_logits(n)}
    # Layers after the model's last trunk endpoint (or the logits) are not read.
    skip_after = model2d.trunk_endpoints[-1] if skip_logits or model2d.logits is None else None
    wanted = {n: tuple(v.shape) for n, v in variables.items()}
    adapt = model2d.input_channels != 3
    if adapt:
        wanted[SLIM_FIRST_CONV] = wanted[SLIM_FIRST_CONV][:2] + (3,) + wanted[SLIM_FIRST_CONV][3:]
    reader = _check_slim(checkpoint_prefix, wanted, skip_after)
    for name, var in variables.items():
        value = reader.get_tensor(name)
        if adapt and name == SLIM_FIRST_CONV:
            value = flow_input_kernel(value, model2d.input_channels)
        var.assign(value.astype(var.dtype))
    logging.info("restored %d InceptionV1 variables from %s%s", len(variables), checkpoint_prefix,
                 f" (layers after {skip_after} not read)" if skip_after else "")


def read_slim_inception_v1(checkpoint_prefix: str) -> dict[str, np.ndarray]:
    """The trunk (up to Mixed_5c) variables of an RGB slim checkpoint as `{slim name: array}`.

    Checked strictly against `InceptionV1(input_channels=3)`; the checkpoint's logits (any class
    count) are not read, since inflation re-initialises them.
    """
    template = InceptionV1(final_endpoint="Mixed_5c")
    wanted = {n: tuple(v.shape) for n, v in slim_variable_names(template).items()}
    reader = _check_slim(checkpoint_prefix, wanted, skip_after="Mixed_5c")
    return {name: reader.get_tensor(name) for name in wanted}


# ---------------------------------------------------------------------------------------------
# 2D -> 3D


def inflate_kernel(kernel2d: np.ndarray, time_size: int, method: str = "repeat") -> np.ndarray:
    """`[kh, kw, C_in, C_out]` -> `[time_size, kh, kw, C_in, C_out]`.

    "repeat": the 2D kernel at every time step, divided by `time_size` (paper sec. 2.4), so a
    temporally constant input gives the 2D response. "centre": the 2D kernel at time index
    `(time_size - 1) // 2` (the tap TF `SAME` padding aligns with the output step) and zeros
    elsewhere, which gives the 2D response of that one frame.
    """
    if method not in INFLATION_METHODS:
        raise ValueError(f"inflation method must be one of {INFLATION_METHODS}, got {method!r}")
    if kernel2d.ndim != 4:
        raise ValueError(f"expected a 2D conv kernel [kh, kw, C_in, C_out], got {kernel2d.shape}")
    if time_size < 1:
        raise ValueError(f"time_size must be positive, got {time_size}")
    if method == "repeat":
        return np.repeat(kernel2d[None], time_size, axis=0) / np.float32(time_size)
    kernel3d = np.zeros((time_size,) + kernel2d.shape, dtype=kernel2d.dtype)
    kernel3d[(time_size - 1) // 2] = kernel2d
    return kernel3d


def flow_input_kernel(rgb_kernel: np.ndarray, channels: int) -> np.ndarray:
    """A first-layer kernel for `channels` flow inputs from an RGB one (`[..., 3, C_out]`).

    The mean over the RGB input channels, repeated `channels` times: TSN's "cross modality
    pre-training" (Wang et al., ECCV 2016, sec. 3.2). Flow has no colour, so the colour-invariant
    part of each filter (its response to a grey image) is what carries over; every flow channel
    (x and y; or 2 x L stacked frames) gets it with the per-channel magnitude of the RGB filter.
    """
    if rgb_kernel.shape[-2] != 3:
        raise ValueError(f"expected an RGB kernel with 3 input channels, got {rgb_kernel.shape}")
    mean = rgb_kernel.mean(axis=-2, keepdims=True)
    return np.repeat(mean, channels, axis=-2).astype(rgb_kernel.dtype)


def slim_to_i3d_path(slim_path: str) -> str:
    """`Mixed_3b/Branch_1/Conv2d_0b_3x3` -> `Mixed_3b/Branch_1/Conv3d_0b_3x3` (release path)."""
    return re.sub(r"(^|/)Conv2d_", r"\1Conv3d_", slim_path)


def _logits_init(shape: tuple[int, ...], seed: int) -> np.ndarray:
    # Sonnet's default conv initializer (the release's Unit3D, and so its logits when trained
    # from ImageNet): truncated normal (2 std), stddev 1 / sqrt(fan_in).
    fan_in = int(np.prod(shape[:-1]))
    values = tf.random.stateless_truncated_normal(
        shape, seed=[seed, 0], stddev=1.0 / np.sqrt(fan_in), dtype=tf.float32
    )
    return values.numpy()


def inflate_weights(
    slim_values: dict[str, np.ndarray],
    modality: str = "rgb",
    num_classes: int = 400,
    method: str = "repeat",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Inflates `{slim name: array}` (Inception-v1 trunk) to I3D `{scoped release name: array}`.

    Output names are those `restore_released` reads: `RGB/inception_i3d/<path>/conv_3d/w`,
    `.../batch_norm/{beta,moving_mean,moving_variance}` (or `Flow/...`), plus a fresh
    `Logits/Conv3d_0c_1x1/conv_3d/{w,b}` for `num_classes` (weights truncated normal with
    stddev 1/sqrt(1024), seeded by `seed`; bias zero). Temporal kernel sizes come from
    `InceptionI3d`. Flow's first conv takes the mean over RGB (`flow_input_kernel`).
    """
    if method not in INFLATION_METHODS:
        raise ValueError(f"inflation method must be one of {INFLATION_METHODS}, got {method!r}")
    mod = get_modality(modality)
    template = InceptionI3d(num_classes=num_classes, modality=modality, final_endpoint="Logits")
    prefix = f"{mod.scope}/{SCOPE_SUFFIX}/"
    out: dict[str, np.ndarray] = {}
    used = set()
    by_i3d_path = {slim_to_i3d_path(p): p for p in _slim_paths(slim_values)}
    for path3d, unit in template.named_units():
        target = tuple(unit.conv.kernel.shape)
        if path3d == slim_to_i3d_path(SLIM_LOGITS):
            out[f"{prefix}{path3d}/conv_3d/w"] = _logits_init(target, seed)
            out[f"{prefix}{path3d}/conv_3d/b"] = np.zeros(target[-1], np.float32)
            continue
        slim_path = by_i3d_path.get(path3d)
        if slim_path is None:
            raise ValueError(f"no slim variable {SLIM_SCOPE}/<...>/weights maps to I3D unit {path3d}")
        kernel2d = np.asarray(slim_values[f"{SLIM_SCOPE}/{slim_path}/weights"], np.float32)
        used.add(f"{SLIM_SCOPE}/{slim_path}/weights")
        if slim_path == "Conv2d_1a_7x7" and kernel2d.shape[-2] == 3 and target[-2] != 3:
            kernel2d = flow_input_kernel(kernel2d, target[-2])  # flow: 2 input channels
        kernel3d = inflate_kernel(kernel2d, target[0], method).astype(np.float32)
        if kernel3d.shape != target:
            raise ValueError(
                f"{SLIM_SCOPE}/{slim_path}/weights {list(kernel2d.shape)} inflates to "
                f"{list(kernel3d.shape)}, but I3D's {path3d} needs {list(target)}"
            )
        out[f"{prefix}{path3d}/conv_3d/w"] = kernel3d
        for stat in ("beta", "moving_mean", "moving_variance"):
            name = f"{SLIM_SCOPE}/{slim_path}/BatchNorm/{stat}"
            if name not in slim_values:
                raise ValueError(f"slim variable {name} missing (needed for I3D {path3d})")
            out[f"{prefix}{path3d}/batch_norm/{stat}"] = np.asarray(slim_values[name], np.float32)
            used.add(name)
    unused = sorted(n for n in slim_values if n not in used and not _is_logits(n))
    if unused:
        raise ValueError(f"slim variables with no I3D counterpart: {', '.join(unused[:10])}")
    return out


def _slim_paths(slim_values: dict[str, np.ndarray]) -> list[str]:
    suffix = "/weights"
    head = f"{SLIM_SCOPE}/"
    return [n[len(head):-len(suffix)] for n in slim_values
            if n.startswith(head) and n.endswith(suffix)]


def inflate_inception_v1(
    slim_checkpoint_prefix: str,
    modality: str = "rgb",
    num_classes: int = 400,
    method: str = "repeat",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """I3D weights `{scoped release name: array}` bootstrapped from a slim ImageNet checkpoint.

    Reads `slim_checkpoint_prefix` strictly (`read_slim_inception_v1`) and inflates it with
    `inflate_weights`; write the result with `write_checkpoint` and load it with
    `restore_released(InceptionI3d(num_classes, modality), prefix)`.
    """
    values = read_slim_inception_v1(slim_checkpoint_prefix)
    logging.info("inflating %d slim variables from %s (%s, %s, %d classes)", len(values),
                 slim_checkpoint_prefix, modality, method, num_classes)
    return inflate_weights(values, modality=modality, num_classes=num_classes, method=method,
                           seed=seed)


# ---------------------------------------------------------------------------------------------
# boring-video fixed point: which output steps the temporal border does not reach


def _window_valid(n_in: int, valid: tuple[int, int], k: int, s: int, ignore_padding: bool):
    """Output length and valid output range of a `SAME` window op of size k, stride s, in time.

    An output step is valid (temporally constant content) when every input step its window
    reads is valid; a conv's zero padding counts as invalid, a max-pool's padding is ignored.
    """
    n_out = -(-n_in // s)
    pad_before = max((n_out - 1) * s + k - n_in, 0) // 2
    lo, hi = valid
    out = [
        o for o in range(n_out)
        if (reads := [i for i in range(o * s - pad_before, o * s - pad_before + k)
                      if not (ignore_padding and not 0 <= i < n_in)])
        and all(lo <= i <= hi for i in reads)
    ]
    return n_out, ((out[0], out[-1]) if out else (1, 0))


def _unit_valid(unit: Unit, n: int, valid):
    k = unit.conv.kernel_size[0]
    s = unit.conv.strides[0]
    return _window_valid(n, valid, k, s, ignore_padding=False)


def boring_video_valid_steps(model3d, num_frames: int) -> tuple[int, range]:
    """For I3D (`repeat` inflation) on `num_frames` frames: (output steps, steps free of border).

    On a boring video, a trunk output step equals the 2D network's output when its temporal
    receptive field stays inside the video: each conv with temporal size k > 1 zero-pads in time
    (`SAME`), so steps whose window reaches past the first/last frame mix in zeros; max-pools
    ignore padding. Follows `model3d.trunk` (an `InceptionI3d` up to its last trunk endpoint).
    """
    n, valid = num_frames, (0, num_frames - 1)
    for layer in model3d.trunk:
        if isinstance(layer, Unit):
            n, valid = _unit_valid(layer, n, valid)
        elif isinstance(layer, InceptionModule):
            lo, hi, n_out = 0, n - 1, n
            for branch in layer.branches:
                bn, bvalid = n, valid
                for sub in branch:
                    if isinstance(sub, Unit):
                        bn, bvalid = _unit_valid(sub, bn, bvalid)
                    else:
                        bn, bvalid = _window_valid(bn, bvalid, sub.pool_size[0], sub.strides[0],
                                                   ignore_padding=True)
                lo, hi, n_out = max(lo, bvalid[0]), min(hi, bvalid[1]), bn
            n, valid = n_out, (lo, hi)
        else:  # max pool
            n, valid = _window_valid(n, valid, layer.pool_size[0], layer.strides[0],
                                     ignore_padding=True)
    return n, range(valid[0], max(valid[0], valid[1] + 1))
