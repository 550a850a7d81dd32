r"""Per-video I3D Mixed_5c features from a video file, a folder of videos, or shards.

  python tools/extract_features.py --video_dir=videos/ --output_dir=features/ \
      --rgb_checkpoint=data/checkpoints/rgb_imagenet/model.ckpt
  python tools/extract_features.py --shards='data/kinetics/test-*.tfrecord' --modalities=rgb,flow \
      --rgb_checkpoint=... --flow_checkpoint=... --pooling=time --output_dir=features/

Writes `<output_dir>/<video id>_<modality>.npy` and `index.jsonl` / `index.csv` (see
kinetics_i3d/serve/features.py). Pooling: "mean" -> [1024] (mean over T', H', W'), "time" ->
[ceil(T/8), 1024], "none" -> [ceil(T/8), 7, 7, 1024]. Rerunning skips finished videos and adds
only missing modalities; a rerun with other settings (pooling, checkpoints, sizes, fps) stops
listing the differences (settings.json) unless --overwrite. Videos that cannot be decoded or are
too short are recorded in the index and skipped. Videos of any
length run in bounded memory (temporal chunks, exact: kinetics_i3d/serve/chunked.py).
"""
import os

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags, logging

from kinetics_i3d import preprocessing
from kinetics_i3d.errors import UserError
from kinetics_i3d.models.i3d import MIN_FRAMES
from kinetics_i3d.serve import chunked, features, streams

FLAGS = flags.FLAGS
flags.DEFINE_string("video", None, "One video file.")
flags.DEFINE_string("video_dir", None, "A folder of videos (searched recursively).")
flags.DEFINE_string("shards", None, "MediaSequence TFRecord shard pattern.")
flags.DEFINE_list("modalities", ["rgb"], "rgb, flow or rgb,flow.")
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (release layout).")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix (release layout).")
flags.DEFINE_integer("num_classes", None, "Expected class count of the checkpoints (a checkpoint "
                     "with another count is an error); default: whatever they have.")
flags.DEFINE_enum("pooling", "mean", list(chunked.POOLINGS), "Pooling of Mixed_5c.")
flags.DEFINE_string("output_dir", None, "Where to write features and the index.")
flags.DEFINE_integer("max_frames", None, "Use at most this many frames of each video.")
flags.DEFINE_integer("min_frames", MIN_FRAMES, "Shorter videos are recorded as too_short.")
flags.DEFINE_integer("chunk_steps", chunked.DEFAULT_CHUNK_STEPS,
                     "Mixed_5c steps per chunk (8 frames each); bounds memory.")
flags.DEFINE_integer("short_side", preprocessing.SHORT_SIDE,
                     "Resize the short side to this (release: 256).")
flags.DEFINE_integer("crop_size", preprocessing.CROP_SIZE, "Centre crop (release: 224).")
flags.DEFINE_enum("flow_backend", "opencv", ["opencv", "tf"], "TV-L1 implementation for files.")
flags.DEFINE_bool("overwrite", False, "Recompute every video when --output_dir holds features "
                  "made with other settings (default: stop and list the differences).")
flags.mark_flag_as_required("output_dir")


def main(argv):
    del argv
    sources = [n for n in ("video", "video_dir", "shards") if FLAGS[n].value]
    if len(sources) != 1:
        raise app.UsageError("give exactly one of --video, --video_dir, --shards")
    bad = set(FLAGS.modalities) - {"rgb", "flow"}
    if bad or not FLAGS.modalities:
        raise app.UsageError(f"--modalities must be rgb and/or flow, got {FLAGS.modalities}")
    checkpoints = {m: FLAGS[f"{m}_checkpoint"].value for m in FLAGS.modalities}
    for m, checkpoint in checkpoints.items():
        if not checkpoint:
            raise app.UsageError(f"--modalities includes {m}: give --{m}_checkpoint")
    size = features.InputSize(short_side=FLAGS.short_side, crop_size=FLAGS.crop_size)
    features.check_options(size, FLAGS.max_frames, FLAGS.min_frames, FLAGS.chunk_steps)
    if not FLAGS.shards:  # the inputs first: a wrong path fails before the models load
        if FLAGS.video:
            if not os.path.isfile(FLAGS.video):
                raise UserError(f"--video={FLAGS.video}: no such file")
            paths, root = [FLAGS.video], None
        else:
            paths, root = features.find_videos(FLAGS.video_dir), FLAGS.video_dir
            if not paths:
                raise UserError(f"--video_dir={FLAGS.video_dir}: no files with extensions "
                                f"{features.VIDEO_EXTENSIONS}")
    settings = features.feature_settings(checkpoints, FLAGS.pooling, size, FLAGS.max_frames,
                                         flow_backend=None if FLAGS.shards else FLAGS.flow_backend)
    features.check_settings(FLAGS.output_dir, settings, FLAGS.overwrite)  # before the models load
    models = streams.load_streams(checkpoints, FLAGS.num_classes)
    runners = {m: chunked.ChunkedI3D(model, chunk_steps=FLAGS.chunk_steps)
               for m, model in models.items()}
    if FLAGS.shards:
        items, total = features.shard_items(FLAGS.shards, FLAGS.modalities, size,
                                            FLAGS.max_frames), None
    else:
        items = features.file_items(paths, root, FLAGS.modalities, size, FLAGS.max_frames,
                                    FLAGS.flow_backend)
        total = len(paths)
    summary = features.extract_features(items, runners, FLAGS.output_dir, FLAGS.pooling,
                                        FLAGS.min_frames, total, settings=settings,
                                        overwrite=FLAGS.overwrite)
    print(f"{summary.done} written, {summary.skipped} already done, {summary.failed} failed; "
          f"index: {os.path.join(FLAGS.output_dir, features.INDEX_CSV)}")
    for rec in summary.failures:
        logging.warning("failed: %s (%s): %s", rec["video_id"], rec["reason"], rec["detail"])
    return cli.all_failed_status(summary.done + summary.skipped, summary.failed, "video")


if __name__ == "__main__":
    cli.run(main)
