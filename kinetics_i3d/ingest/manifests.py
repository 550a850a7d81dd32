"""Dataset manifests: which videos to ingest, with labels and optional clip spans.

Formats:
  Kinetics CSV   `label,youtube_id,time_start,time_end,split` (test CSVs have no `label`).
  UCF-101        `classInd.txt` ("1 ApplyEyeMakeup"), `trainlist0N.txt`
                 ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"), `testlist0N.txt` (no label).
  HMDB-51        `<class>_test_split<N>.txt`, lines "<video>.avi <k>": 1 = train, 2 = test,
                 0 = unused.
  Class folders  `root/<class_name>/<video>.<ext>`.

Label indices are 0-based. For UCF-101 they are `classInd - 1`; for HMDB-51 and class folders the
sorted class names; for Kinetics the given label map (the release's `label_map.txt` is the sorted
class names, so the default, the sorted labels of a full CSV, gives the same indices).
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
from pathlib import Path
from typing import Sequence

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")

# Names given by the common Kinetics downloaders (ActivityNet crawler, CVDF mirror): already
# trimmed clips `<id>_<start:06d>_<end:06d>.<ext>`, flat or under a label folder.
KINETICS_TRIMMED_TEMPLATES = (
    "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
    "{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
)
KINETICS_FULL_TEMPLATES = ("{youtube_id}.mp4", "{label}/{youtube_id}.mp4")


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One video to ingest.

    path: the video file; media_id: stored as `clip/media_id`; label_index / label_string: None if
    unlabelled; start_s / end_s: span to cut from the file (None: from the start / to the end);
    time_offset_s: added to every stored timestamp (a trimmed Kinetics file starts at the
    annotation's `time_start` in the YouTube video).
    """

    path: str
    media_id: str
    label_index: int | None = None
    label_string: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    time_offset_s: float = 0.0


def read_label_map(path: str | os.PathLike) -> list[str]:
    """One class name per line (the release's `label_map.txt`); blank lines are ignored."""
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f"label map {path} has duplicate class names")
    return names


def _index_of(label: str, label_map: Sequence[str], source: str) -> int:
    try:
        return label_map.index(label)
    except ValueError:
        raise ValueError(f"{source}: label {label!r} is not in the label map "
                         f"({len(label_map)} classes)") from None


def _find_file(root: Path, candidates: Sequence[str]) -> Path:
    """First existing candidate (also trying the other video extensions); else the first one."""
    for rel in candidates:
        base = root / rel
        for ext in (base.suffix,) + VIDEO_EXTENSIONS:
            path = base.with_suffix(ext)
            if path.is_file():
                return path
    return root / candidates[0]


def read_kinetics_csv(
    csv_path: str | os.PathLike,
    video_root: str | os.PathLike,
    *,
    label_map: Sequence[str] | None = None,
    trimmed: bool = True,
    templates: Sequence[str] | None = None,
) -> list[VideoEntry]:
    """Entries of a Kinetics CSV (`label,youtube_id,time_start,time_end,split`).

    Args:
      csv_path: the annotation CSV.
      video_root: folder holding the downloaded videos.
      label_map: class names in index order; default: the sorted labels of this CSV.
      trimmed: True if the files are already cut to [time_start, time_end] (the downloaders'
        default): the whole file is used and timestamps are offset by time_start. False if the
        files are whole YouTube videos: the span is cut here.
      templates: relative file names to try, formatted with label, youtube_id, time_start,
        time_end (ints); default `KINETICS_TRIMMED_TEMPLATES` or `KINETICS_FULL_TEMPLATES`.
    """
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"youtube_id", "time_start", "time_end"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path}: missing columns {sorted(missing)}; expected "
                             "label,youtube_id,time_start,time_end,split")
        rows = list(reader)
    labelled = "label" in (rows[0] if rows else {})
    if labelled and label_map is None:
        label_map = sorted({r["label"] for r in rows})
    templates = templates or (KINETICS_TRIMMED_TEMPLATES if trimmed else KINETICS_FULL_TEMPLATES)
    root = Path(video_root)
    entries = []
    for line, row in enumerate(rows, start=2):
        start, end = float(row["time_start"]), float(row["time_end"])
        label = row.get("label") if labelled else None
        names = [t.format(label=label or "", youtube_id=row["youtube_id"],
                          time_start=int(start), time_end=int(end)) for t in templates]
        entries.append(VideoEntry(
            path=str(_find_file(root, names)),
            media_id=row["youtube_id"],
            label_index=_index_of(label, label_map, f"{csv_path}:{line}") if label else None,
            label_string=label,
            start_s=None if trimmed else start,
            end_s=None if trimmed else end,
            time_offset_s=start if trimmed else 0.0,
        ))
    return entries


def read_ucf101(
    split_dir: str | os.PathLike,
    video_root: str | os.PathLike,
    *,
    split: int = 1,
    subset: str = "train",
) -> list[VideoEntry]:
    """Entries of UCF-101 split `split` (1-3), `subset` "train" or "test"; label = classInd - 1."""
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    split_dir = Path(split_dir)
    canonical: dict[int, str] = {}  # index -> name as classInd.txt spells it
    with open(split_dir / "classInd.txt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                number, name = line.split()
                canonical[int(number) - 1] = name
    # Folder names in the lists differ in case from classInd.txt (HandStandPushups).
    classes = {name.lower(): index for index, name in canonical.items()}
    list_path = split_dir / f"{subset}list{split:02d}.txt"
    entries = []
    with open(list_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            rel = parts[0]
            folder = rel.split("/")[0].lower()
            if folder not in classes:
                raise ValueError(f"{list_path}:{line_no}: class folder {folder!r} not in "
                                 "classInd.txt")
            index = classes[folder]
            if len(parts) > 1 and int(parts[1]) - 1 != index:
                raise ValueError(f"{list_path}:{line_no}: label {parts[1]} disagrees with "
                                 f"classInd.txt ({index + 1} for {folder!r})")
            entries.append(VideoEntry(path=str(Path(video_root) / rel),
                                      media_id=Path(rel).stem, label_index=index,
                                      label_string=canonical[index]))
    return entries


_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")


def read_hmdb51(
    split_dir: str | os.PathLike,
    video_root: str | os.PathLike,
    *,
    split: int = 1,
    subset: str = "train",
) -> list[VideoEntry]:
    """Entries of HMDB-51 split `split` (1-3): files `<class>_test_split<N>.txt`, "1" = train,
    "2" = test, "0" = unused; label = index of the class in sorted order; video at
    `video_root/<class>/<video>`."""
    wanted = {"train": "1", "test": "2"}.get(subset)
    if wanted is None:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    files = {}
    for path in Path(split_dir).iterdir():
        match = _HMDB_SPLIT.match(path.name)
        if match and int(match["n"]) == split:
            files[match["cls"]] = path
    if not files:
        raise ValueError(f"{split_dir}: no '<class>_test_split{split}.txt' files found")
    entries = []
    for index, cls in enumerate(sorted(files)):
        with open(files[cls], encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1] == wanted:
                    entries.append(VideoEntry(path=str(Path(video_root) / cls / parts[0]),
                                              media_id=Path(parts[0]).stem, label_index=index,
                                              label_string=cls))
    return entries


def read_class_folders(
    root: str | os.PathLike,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    label_map: Sequence[str] | None = None,
) -> list[VideoEntry]:
    """Entries of `root/<class_name>/<video>.<ext>`; labels are the sorted folder names (or their
    index in `label_map`); media_id is the path relative to root."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"class-folder root {root} is not a directory")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    label_map = list(label_map) if label_map is not None else classes
    exts = {e.lower() for e in extensions}
    entries = []
    for cls in classes:
        index = _index_of(cls, label_map, str(root / cls))
        for path in sorted((root / cls).iterdir()):
            if path.is_file() and path.suffix.lower() in exts:
                entries.append(VideoEntry(path=str(path), media_id=f"{cls}/{path.name}",
                                          label_index=index, label_string=cls))
    return entries


MANIFEST_FORMATS = ("kinetics", "ucf101", "hmdb51", "folder")


def load_manifest(
    manifest_format: str,
    manifest: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    split: int = 1,
    subset: str = "train",
    label_map_path: str | os.PathLike | None = None,
    kinetics_trimmed: bool = True,
) -> list[VideoEntry]:
    """Entries for one of `MANIFEST_FORMATS`.

    `manifest` is the Kinetics CSV, the UCF-101 / HMDB-51 split folder, or the class-folder root;
    `video_root` is where the videos are (default: next to the manifest / the root itself).
    """
    if manifest_format not in MANIFEST_FORMATS:
        raise ValueError(f"manifest_format must be one of {MANIFEST_FORMATS}, got "
                         f"{manifest_format!r}")
    if not os.path.exists(manifest):
        raise ValueError(f"manifest {manifest} does not exist")
    label_map = read_label_map(label_map_path) if label_map_path else None
    if manifest_format == "folder":
        return read_class_folders(manifest, label_map=label_map)
    if video_root is None:
        video_root = Path(manifest).parent if manifest_format == "kinetics" else manifest
    if manifest_format == "kinetics":
        return read_kinetics_csv(manifest, video_root, label_map=label_map,
                                 trimmed=kinetics_trimmed)
    if manifest_format == "ucf101":
        return read_ucf101(manifest, video_root, split=split, subset=subset)
    return read_hmdb51(manifest, video_root, split=split, subset=subset)
