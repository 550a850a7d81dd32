"""Dataset manifests: which videos to ingest, with labels and optional clip spans.

Formats:
  Kinetics CSV   `label,youtube_id,time_start,time_end,split` (test CSVs have no `label`).
  UCF-101        `classInd.txt` ("1 ApplyEyeMakeup"), `trainlist0N.txt`
                 ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"), `testlist0N.txt` (no label).
  HMDB-51        `<class>_test_split<N>.txt`, lines "<video>.avi <k>": 1 = train, 2 = test,
                 0 = unused.
  Class folders  `root/<class_name>/<video>.<ext>`.

Label indices are 0-based. For UCF-101 they are `classInd - 1`; for HMDB-51 and class folders the
sorted class names; for Kinetics the given label map, else the first shipped map (Kinetics-400,
then -600: `kinetics_i3d.labels.shipped_kinetics_map`) holding every label of the CSV, so a CSV
covering a subset of the classes still gets the release's indices (zumba = 399), never 0..n-1.
`read_manifest` returns the entries with the class names they index (`Manifest`).
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
from pathlib import Path
from typing import Sequence

from absl import logging

from kinetics_i3d import labels as labels_lib
from kinetics_i3d.errors import UserError

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
        raise UserError(f"label map {path} has duplicate class names")
    return names


def _index_of(label: str, label_map: Sequence[str], source: str) -> int:
    try:
        return label_map.index(label)
    except ValueError:
        raise UserError(f"{source}: label {label!r} is not in the label map "
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
      label_map: class names in index order; default: the first shipped Kinetics map (400, then
        600) holding every label of this CSV (logged); `UserError` when neither does.
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
            raise UserError(f"{csv_path}: missing columns {sorted(missing)}; expected "
                             "label,youtube_id,time_start,time_end,split")
        rows = list(reader)
    labelled = "label" in (rows[0] if rows else {})
    if labelled and label_map is None:
        title, path, label_map = labels_lib.shipped_kinetics_map(r["label"] for r in rows)
        logging.info("%s: no --label_map given; using the shipped %s map %s (it holds all %d "
                     "labels of the CSV)", csv_path, title, path, len({r["label"] for r in rows}))
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


_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")


def ucf101_classes(split_dir: str | os.PathLike) -> list[str]:
    """UCF-101 class names in index order: `classInd.txt` line "k Name" is index k - 1."""
    canonical: dict[int, str] = {}
    with open(Path(split_dir) / "classInd.txt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                number, name = line.split()
                canonical[int(number) - 1] = name
    if sorted(canonical) != list(range(len(canonical))):
        raise UserError(f"{Path(split_dir) / 'classInd.txt'}: class numbers are not 1..N")
    return [canonical[i] for i in range(len(canonical))]


def hmdb51_classes(split_dir: str | os.PathLike, split: int = 1) -> list[str]:
    """HMDB-51 class names in index order: the sorted classes of the split files."""
    return sorted(_hmdb_split_files(split_dir, split))


def _hmdb_split_files(split_dir: str | os.PathLike, split: int) -> dict[str, Path]:
    files = {}
    for path in Path(split_dir).iterdir():
        match = _HMDB_SPLIT.match(path.name)
        if match and int(match["n"]) == split:
            files[match["cls"]] = path
    if not files:
        raise UserError(f"{split_dir}: no '<class>_test_split{split}.txt' files found")
    return files


def read_ucf101(
    split_dir: str | os.PathLike,
    video_root: str | os.PathLike,
    *,
    split: int = 1,
    subset: str = "train",
) -> list[VideoEntry]:
    """Entries of UCF-101 split `split` (1-3), `subset` "train" or "test"; label = classInd - 1."""
    if subset not in ("train", "test"):
        raise UserError(f"subset must be 'train' or 'test', got {subset!r}")
    split_dir = Path(split_dir)
    canonical = dict(enumerate(ucf101_classes(split_dir)))  # index -> name as in classInd.txt
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
                raise UserError(f"{list_path}:{line_no}: class folder {folder!r} not in "
                                 "classInd.txt")
            index = classes[folder]
            if len(parts) > 1 and int(parts[1]) - 1 != index:
                raise UserError(f"{list_path}:{line_no}: label {parts[1]} disagrees with "
                                 f"classInd.txt ({index + 1} for {folder!r})")
            entries.append(VideoEntry(path=str(Path(video_root) / rel),
                                      media_id=Path(rel).stem, label_index=index,
                                      label_string=canonical[index]))
    return entries


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
        raise UserError(f"subset must be 'train' or 'test', got {subset!r}")
    files = _hmdb_split_files(split_dir, split)
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


def class_folder_names(root: str | os.PathLike) -> list[str]:
    """Class names of a class-folder root in index order: its sorted sub-folder names."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir())


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
        raise UserError(f"class-folder root {root} is not a directory")
    classes = class_folder_names(root)
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


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A loaded manifest: its entries and the class names their `label_index` indexes.

    class_names: index -> name (None for an unlabelled Kinetics test CSV without a label map);
    label_map_source: where the names come from (a file path, "classInd.txt" or a description).
    """

    entries: list[VideoEntry]
    class_names: list[str] | None
    label_map_source: str


def load_manifest(*args, **kwargs) -> list[VideoEntry]:
    """The entries of `read_manifest(*args, **kwargs)`."""
    return read_manifest(*args, **kwargs).entries


def read_manifest(
    manifest_format: str,
    manifest: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    *,
    split: int = 1,
    subset: str = "train",
    label_map_path: str | os.PathLike | None = None,
    kinetics_trimmed: bool = True,
) -> Manifest:
    """Entries and class names for one of `MANIFEST_FORMATS`.

    `manifest` is the Kinetics CSV, the UCF-101 / HMDB-51 split folder, or the class-folder root;
    `video_root` is where the videos are (default: next to the manifest / the root itself).
    `label_map_path` applies to Kinetics and class folders; UCF-101 (`classInd.txt`) and HMDB-51
    (sorted classes) keep their own orders.

    Raises:
      UserError: the manifest is missing or malformed, or lists no videos (an empty CSV or
        folder is refused before anything is written).
    """
    if manifest_format not in MANIFEST_FORMATS:
        raise UserError(f"manifest_format must be one of {MANIFEST_FORMATS}, got "
                        f"{manifest_format!r}")
    if not os.path.exists(manifest):
        raise UserError(f"manifest {manifest} does not exist")
    label_map = read_label_map(label_map_path) if label_map_path else None
    source = str(label_map_path) if label_map_path else ""
    if manifest_format == "folder":
        entries = read_class_folders(manifest, label_map=label_map)
        names = label_map or class_folder_names(manifest)
        result = Manifest(entries, names, source or f"sorted class folders of {manifest}")
    else:
        if video_root is None:
            video_root = Path(manifest).parent if manifest_format == "kinetics" else manifest
        if manifest_format == "kinetics":
            entries = read_kinetics_csv(manifest, video_root, label_map=label_map,
                                        trimmed=kinetics_trimmed)
            present = {e.label_string for e in entries if e.label_string is not None}
            if label_map is None and present:  # the same choice read_kinetics_csv made
                _, path, label_map = labels_lib.shipped_kinetics_map(present)
                source = str(path)
            result = Manifest(entries, label_map, source)
        elif manifest_format == "ucf101":
            result = Manifest(read_ucf101(manifest, video_root, split=split, subset=subset),
                              ucf101_classes(manifest), str(Path(manifest) / "classInd.txt"))
        else:
            result = Manifest(read_hmdb51(manifest, video_root, split=split, subset=subset),
                              hmdb51_classes(manifest, split),
                              f"sorted HMDB-51 classes of {manifest}")
    if not result.entries:
        what = (f"no <class>/<video> files (extensions {' '.join(VIDEO_EXTENSIONS)})"
                if manifest_format == "folder" else "no videos")
        raise UserError(f"--manifest={manifest} ({manifest_format}) lists {what}; nothing to "
                        "ingest")
    return result
