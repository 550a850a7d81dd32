"""Class-name lists shipped with the package (Kinetics-400 and -600, in the release's order)."""
from __future__ import annotations

from pathlib import Path

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
        raise ValueError(f"label map {path} is empty or has blank lines inside it")
    return names


def default_label_map(num_classes: int) -> list[str]:
    """The shipped Kinetics names for 400 or 600 classes."""
    paths = {400: KINETICS_400, 600: KINETICS_600}
    if num_classes not in paths:
        raise ValueError(
            f"no shipped label map for {num_classes} classes (have 400 and 600); pass --label_map"
        )
    return load_label_map(paths[num_classes])
