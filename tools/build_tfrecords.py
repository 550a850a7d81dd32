r"""Build MediaSequence TFRecord shards (RGB JPEG + TV-L1 flow) from a video dataset manifest.

Example (Kinetics-400 train, 8 processes, release preprocessing):
  python tools/build_tfrecords.py --manifest_format=kinetics --manifest=kinetics_400_train.csv \
    --video_root=/data/kinetics/train --label_map=kinetics_i3d/label_maps/label_map.txt \
    --output_dir=/data/tfrecords/k400 --name=train --num_shards=1024 --num_workers=8

Across machines, run the same command with --task_index=K --num_tasks=M on each of M machines
(a Kubernetes indexed Job's JOB_COMPLETION_INDEX, a Slurm array's SLURM_ARRAY_TASK_ID): each
writes a disjoint, deterministic set of shards; rerunning a task resumes it.

Beside the shards: <name>-dataset.json (how they were made: label map names and SHA-256, fps,
short side, flow backend and bound, codecs, package version, counts, failures file) and
<name>-label_map.txt (the class names `clip/label/index` indexes). Without --label_map a Kinetics
CSV is numbered by the first shipped map (Kinetics-400, then -600) that holds all its labels.

Exit status 0 unless every video of this task failed (see <name>-failures*.tsv); 1 with one
`error:` line when a flag or file is wrong or finished shards were made with other settings.
"""
from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags
from absl import logging

from kinetics_i3d import preprocessing
from kinetics_i3d.ingest import flow as flow_lib
from kinetics_i3d.ingest import manifests
from kinetics_i3d.ingest import sequence
from kinetics_i3d.ingest import shards

_FORMAT = flags.DEFINE_enum("manifest_format", "kinetics", list(manifests.MANIFEST_FORMATS),
                            "Manifest kind.")
_MANIFEST = flags.DEFINE_string(
    "manifest", None, "Kinetics CSV, UCF-101/HMDB-51 split folder, or class-folder root.")
_VIDEO_ROOT = flags.DEFINE_string("video_root", None,
                                  "Folder with the videos (default: next to the manifest).")
_SPLIT = flags.DEFINE_integer("split", 1, "UCF-101 / HMDB-51 split number (1-3).")
_SUBSET = flags.DEFINE_enum("subset", "train", ["train", "test"], "UCF-101 / HMDB-51 subset.")
_LABEL_MAP = flags.DEFINE_string(
    "label_map", None, "Class names in index order, one per line (Kinetics / class folders; "
    "default: Kinetics: the first shipped map, 400 then 600, holding every label of the CSV; "
    "class folders: sorted folder names). UCF-101 / HMDB-51 keep their own orders.")
_TRIMMED = flags.DEFINE_bool(
    "kinetics_trimmed", True, "Kinetics files are already cut to [time_start, time_end] "
    "(<id>_<start:06d>_<end:06d>.mp4); false: whole videos <id>.mp4, cut here.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where shards go.")
_NAME = flags.DEFINE_string("name", "train", "Shard name prefix: <name>-<i>-of-<N>.tfrecord.")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 16, "Total shards (over all tasks).")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 1, "Processes on this machine.")
_TASK_INDEX = flags.DEFINE_integer("task_index", 0, "This task's index in [0, num_tasks).")
_NUM_TASKS = flags.DEFINE_integer("num_tasks", 1, "Independent tasks sharing the manifest.")
_SEED = flags.DEFINE_integer("shuffle_seed", 0, "Seed of the video-to-shard assignment "
                             "(-1: manifest order). Same for every task.")
_FPS = flags.DEFINE_float("fps", preprocessing.FRAME_RATE, "Output frame rate (release: 25).")
_SHORT_SIDE = flags.DEFINE_integer("short_side", preprocessing.SHORT_SIDE,
                                   "Output short side (release: 256; 0 keeps).")
_SKIP_RGB = flags.DEFINE_bool("skip_rgb", False, "Do not store RGB frames.")
_SKIP_FLOW = flags.DEFINE_bool("skip_flow", False, "Do not compute/store flow.")
_FLOW_BOUND = flags.DEFINE_float("flow_bound", preprocessing.FLOW_BOUND,
                                  "Flow truncation bound, pixels (release: 20).")
_FLOW_BACKEND = flags.DEFINE_enum("flow_backend", "opencv", list(flow_lib.BACKENDS),
                                  "TV-L1 implementation.")
_FLOW_BATCH = flags.DEFINE_integer("flow_batch", 8, "Frame pairs per call (tf backend).")
_FLOW_FORMAT = flags.DEFINE_enum("flow_format", "png", list(sequence.FLOW_FORMATS),
                                 "Flow image codec.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", sequence.DEFAULT_JPEG_QUALITY,
                                     "RGB JPEG quality.")

_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Rebuild finished shards made with other "
                                "settings (default: stop and list the differences).")

flags.mark_flags_as_required(["manifest", "output_dir"])


def main(argv):
    del argv
    options = shards.IngestOptions(
        fps=_FPS.value, short_side=_SHORT_SIDE.value, rgb=not _SKIP_RGB.value,
        flow=not _SKIP_FLOW.value, flow_bound=_FLOW_BOUND.value,
        flow_backend=_FLOW_BACKEND.value, flow_batch=_FLOW_BATCH.value,
        flow_format=_FLOW_FORMAT.value, jpeg_quality=_JPEG_QUALITY.value)  # bad values: UserError
    manifest = manifests.read_manifest(
        _FORMAT.value, _MANIFEST.value, _VIDEO_ROOT.value, split=_SPLIT.value,
        subset=_SUBSET.value, label_map_path=_LABEL_MAP.value, kinetics_trimmed=_TRIMMED.value)
    summary = shards.build_dataset(
        manifest.entries, _OUTPUT_DIR.value, name=_NAME.value, num_shards=_NUM_SHARDS.value,
        options=options, num_workers=_NUM_WORKERS.value, task_index=_TASK_INDEX.value,
        num_tasks=_NUM_TASKS.value, shuffle_seed=None if _SEED.value < 0 else _SEED.value,
        class_names=manifest.class_names, label_map_source=manifest.label_map_source,
        overwrite=_OVERWRITE.value)
    print(f"{summary.num_written} of {summary.num_videos} videos written, "
          f"{summary.num_failed} failed (list: {summary.failures_path}), "
          f"{summary.num_frames} frames, {summary.seconds:.1f} s; provenance: "
          f"{summary.dataset_path}")
    if summary.all_failed:
        logging.error("see %s for why each video failed", summary.failures_path)
    return cli.all_failed_status(summary.num_written, summary.num_failed, "video")


if __name__ == "__main__":
    cli.run(main)
