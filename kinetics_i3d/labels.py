"""Class-name lists shipped with the package (Kinetics-400 and -600, in the release's order)."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from kinetics_i3d.errors import UserError

LABEL_MAPS = Path(__file__).resolve().parent / "label_maps"
KINETICS_400 = LABEL_MAPS / "label_map.txt"
KINETICS_600 = LABEL_MAPS / "label_map_600.txt"


def load_label_map(path: str | Path) -> list[str]:
    """One class name per line, index = line number; blank trailing lines ignored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label map {path} does not exist")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or any(not n for n in names):
        raise UserError(f"label map {path} is empty or has blank lines inside it")
    return names


def default_label_map(num_classes: int) -> list[str]:
    """The shipped Kinetics names for 400 or 600 classes."""
    paths = {400: KINETICS_400, 600: KINETICS_600}
    if num_classes not in paths:
        raise UserError(
            f"no shipped label map for {num_classes} classes (have 400 and 600); pass --label_map"
        )
    return load_label_map(paths[num_classes])


# Kinetics maps tried, in order, for a Kinetics manifest given without a label map: the first
# that contains every label of the manifest gives the release's indices (zumba = 399 in K-400).
SHIPPED_KINETICS = (("Kinetics-400", KINETICS_400), ("Kinetics-600", KINETICS_600))


def label_map_text(names: Sequence[str]) -> str:
    """The label-map file format (`label_map.txt`): one class name per line, index = line."""
    return "".join(f"{n}\n" for n in names)


def label_map_hash(names: Sequence[str]) -> str:
    """Hex SHA-256 of `label_map_text(names)`: identifies a label map (names and order).

    Stored by ingest in `<name>-dataset.json` and in each example's context
    (`kinetics_i3d.mediasequence.CLIP_LABEL_MAP_SHA256`).
    """
    return hashlib.sha256(label_map_text(names).encode("utf-8")).hexdigest()


def write_label_map(path: str | Path, names: Sequence[str]) -> None:
    """Writes `names` in the `label_map.txt` format (atomically: temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".incomplete")
    tmp.write_text(label_map_text(names), encoding="utf-8")
    os.replace(tmp, path)


def shipped_kinetics_map(labels: Iterable[str]) -> tuple[str, Path, list[str]]:
    """The first shipped Kinetics map (400, then 600) holding every name in `labels`.

    Returns (map name, path, class names). Raises `UserError` naming the labels no shipped map
    has, asking for --label_map.
    """
    wanted = set(labels)
    missing: set[str] = wanted
    for title, path in SHIPPED_KINETICS:
        names = load_label_map(path)
        if wanted <= set(names):
            return title, path, names
        missing = missing & (wanted - set(names))
    shown = ", ".join(repr(m) for m in sorted(missing)[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    raise UserError(f"labels {shown}{more} are in neither shipped Kinetics map (400, 600); pass "
                    f"--label_map=<file with one class name per line, in index order>")


# A run's label map beside its checkpoints: the trainer copies the dataset's `<name>-label_map.txt`
# to `<model_dir>/label_map.txt` and `<model_dir>/released/label_map.txt`; every tool that loads a
# checkpoint looks for it there when no --label_map is given (`label_map_beside`).
BESIDE_CHECKPOINT = "label_map.txt"
_SHARD_NAME = re.compile(r"^(?P<name>.+)-\d{5}-of-\d{5}\.tfrecord$")


def label_map_beside(checkpoint: str | Path) -> str | None:
    """`label_map.txt` in the folder of `checkpoint` (a checkpoint prefix such as
    `runs/x/released/model.ckpt`, or a folder such as a trainer's `--model_dir`), if there is one.
    """
    checkpoint = str(checkpoint)
    folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
    path = os.path.join(folder, BESIDE_CHECKPOINT)
    return path if os.path.isfile(path) else None


def dataset_label_map(shard_files: Iterable[str]) -> str | None:
    """The `<name>-label_map.txt` ingest wrote beside shards named
    `<name>-<i:05d>-of-<N:05d>.tfrecord` (the first of `shard_files` that has one), else None."""
    for shard in shard_files:
        match = _SHARD_NAME.match(os.path.basename(shard))
        if match:
            path = os.path.join(os.path.dirname(shard), f"{match['name']}-label_map.txt")
            if os.path.isfile(path):
                return path
    return None
