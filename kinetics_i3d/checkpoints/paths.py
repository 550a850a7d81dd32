"""The one place a user-given checkpoint path becomes a TensorFlow checkpoint prefix.

A TF checkpoint is a prefix `P` with files `P.index` and `P.data-00000-of-0000N` .. (N shards).
What users pass is often one of those files (what a file browser or tab completion gives) or a
folder. `resolve_checkpoint` accepts:
  - the prefix itself (`.../model.ckpt`);
  - `P.index` or `P.data-NNNNN-of-NNNNN`: taken as `P`;
  - a folder holding a `checkpoint` file (a trainer's `<model_dir>/ckpt`, a `tf.train.Checkpoint`
    manager's folder): its newest prefix (`tf.train.latest_checkpoint`);
  - a folder without a `checkpoint` file holding exactly one `*.index` (the trainer's
    `released/`, the `pretrained()` cache, convert_checkpoint.py's output): that prefix; with
    several `*.index` files it is ambiguous, and the error lists them;
and checks that `P.index` and every `P.data-*` shard the index names exist, raising a one-line
`UserError` naming the missing file otherwise (TensorFlow would open a `.index` path as an empty
checkpoint, and a missing `.data` file only fails at the first read, with a raw traceback).
Every loader in the package (`released`, `inflation`, the trainer's `--init_checkpoint`,
evaluation, feature extraction, export) goes through it.
"""
from __future__ import annotations

import os
import re

import tensorflow as tf

from kinetics_i3d.errors import UserError



class CheckpointNotFoundError(UserError, FileNotFoundError):
    """A checkpoint path names no complete checkpoint (also a `FileNotFoundError`, which callers
    of the loaders caught before this module existed)."""


_FILE_SUFFIX = re.compile(r"\.(index|data-\d{5}-of-\d{5})$")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _num_data_shards(index_head: bytes) -> int | None:
    """N of `.data-*-of-N`, from the `BundleHeaderProto` that a tensor-bundle index stores as the
    value of its first entry (empty key; table blocks are uncompressed); None if unreadable."""
    try:
        shared, pos = _varint(index_head, 0)
        key_len, pos = _varint(index_head, pos)
        value_len, pos = _varint(index_head, pos)
        if shared or key_len:
            return None
        header = index_head[pos + key_len: pos + key_len + value_len]
        pos = 0
        while pos < len(header):
            tag, pos = _varint(header, pos)
            if tag & 7 != 0:  # every BundleHeaderProto field before `version` is a varint
                return None
            value, pos = _varint(header, pos)
            if tag >> 3 == 1:
                return value
        return 1  # num_shards left at its proto default is never written by TF; be lenient
    except IndexError:
        return None


def data_files(prefix: str) -> list[str]:
    """The `.data-*` file names `prefix.index` expects (`prefix.data-00000-of-00001` for one
    shard); from the glob when the index header cannot be read."""
    with tf.io.gfile.GFile(prefix + ".index", "rb") as f:
        head = f.read(256)
    n = _num_data_shards(head)
    if n is None:
        return sorted(tf.io.gfile.glob(prefix + ".data-*-of-*")) or [
            prefix + ".data-00000-of-00001"]
    return [f"{prefix}.data-{i:05d}-of-{n:05d}" for i in range(n)]


def _folder_prefix(folder: str, name: str) -> str:
    """The prefix a checkpoint folder names: the newest in its `checkpoint` file, else its one
    `*.index` file's prefix (the trainer's `released/`, the pretrained() cache and
    convert_checkpoint.py's output hold one checkpoint and no `checkpoint` file)."""
    if tf.io.gfile.exists(f"{folder}/checkpoint"):
        latest = tf.train.latest_checkpoint(folder)
        if latest is None:
            raise CheckpointNotFoundError(
                f"{name}: the folder's 'checkpoint' file names no checkpoint that exists")
        return latest
    indexes = sorted(tf.io.gfile.glob(f"{folder}/*.index"))
    if len(indexes) == 1:
        return indexes[0][:-len(".index")]
    if not indexes:
        raise CheckpointNotFoundError(
            f"{name}: no checkpoint in the folder (no 'checkpoint' file, no *.index file); give "
            f"a checkpoint prefix (the path before .index) or a folder holding one checkpoint")
    listed = ", ".join(os.path.basename(i)[:-len(".index")] for i in indexes)
    raise CheckpointNotFoundError(
        f"{name}: the folder holds {len(indexes)} checkpoints ({listed}) and no 'checkpoint' "
        f"file saying which; give one prefix (the path before .index)")


def resolve_checkpoint(path: str, flag: str | None = "checkpoint", check_data: bool = True) -> str:
    """The checkpoint prefix `path` names (see the module docstring).

    Args:
      path: a prefix, a `.index` / `.data-NNNNN-of-NNNNN` file, or a checkpoint folder; local or
        any filesystem `tf.io.gfile` reads.
      flag: named in error messages (e.g. "rgb_checkpoint"); None: "checkpoint '<path>'" (library
        callers that do not know the flag).
      check_data: also require every `.data` shard (False: only the index, for listing names).

    Raises:
      CheckpointNotFoundError (a `UserError`): one line naming the flag and the missing folder,
        index or data file.
    """
    name = f"--{flag.lstrip('-')}={path!r}" if flag else f"checkpoint {path!r}"
    if not path:
        raise CheckpointNotFoundError(f"{name}: empty checkpoint path")
    path = path.rstrip("/") or path
    if tf.io.gfile.isdir(path):
        prefix = _folder_prefix(path, name)
    else:
        prefix = _FILE_SUFFIX.sub("", path)
    if not tf.io.gfile.exists(prefix + ".index"):
        raise CheckpointNotFoundError(
            f"{name}: no checkpoint there ({prefix}.index does not exist)")
    if check_data:
        for data in data_files(prefix):
            if not tf.io.gfile.exists(data):
                raise CheckpointNotFoundError(
                    f"{name}: checkpoint data file {data} is missing (the .index is there; copy "
                    f"or download the .data file beside it)")
    return prefix


def checkpoint_identity(path: str, flag: str = "checkpoint") -> dict:
    """What identifies the checkpoint `path` names in an output's recorded settings: its resolved
    prefix (absolute for local paths) and its `.index` file's size and mtime (ns)."""
    prefix = resolve_checkpoint(path, flag)
    stat = tf.io.gfile.stat(prefix + ".index")
    local = "://" not in prefix
    return {"path": os.path.abspath(prefix) if local else prefix, "size": stat.length,
            "mtime_ns": stat.mtime_nsec}
