"""Whole-video evaluation of RGB, Flow or two-stream I3D on MediaSequence test shards.

  python tools/evaluate.py --shards='data/kinetics400/test-*.tfrecord' \
      --rgb_checkpoint=runs/rgb/model.ckpt --flow_checkpoint=runs/flow/model.ckpt \
      --output_dir=eval/kinetics400
  # UCF-101 / HMDB-51: mean over the three splits ({split} is replaced by each value)
  python tools/evaluate.py --splits=1,2,3 --shards='data/ucf101/test_split{split}-*.tfrecord' \
      --rgb_checkpoint='runs/ucf101_split{split}/rgb/model.ckpt' --label_map=ucf101_labels.txt \
      --output_dir=eval/ucf101

Test interface (paper sec. 2.5): all frames of each video, 224 centre crop, logits averaged over
time; two streams: logits added. Writes to --output_dir (per split in split_<s>/ with --splits):
metrics.json (top-1, top-5, mean class accuracy; fused and per stream), per_class_accuracy.csv,
confusion.csv, confusion.png (row-normalised heat map), predictions.jsonl (media id, label,
top-5), logits.npz; with --splits also splits.json (mean and per-split numbers).
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

from kinetics_i3d.serve import chunked, evaluate, streams

FLAGS = flags.FLAGS
flags.DEFINE_string("shards", None, "Test shard pattern (with {split} when --splits is given).")
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (release layout).")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix (release layout).")
flags.DEFINE_list("splits", None, "Split names substituted for {split}; results are averaged.")
flags.DEFINE_string("label_map", None, "Class names, one per line (default: the shipped "
                    "Kinetics-400 / -600 map matching the checkpoint's class count).")
flags.DEFINE_string("output_dir", None, "Where to write the results.")
flags.DEFINE_integer("max_frames", None, "Evaluate at most the first N frames of each video.")
flags.DEFINE_integer("chunk_steps", chunked.DEFAULT_CHUNK_STEPS,
                     "Mixed_5c steps per chunk (8 frames each); bounds memory on long videos.")
flags.DEFINE_integer("top_k", 5, "k of top-k accuracy (paper: 5).")
flags.mark_flag_as_required("shards")
flags.mark_flag_as_required("output_dir")


def main(argv):
    del argv
    templates = {m: FLAGS[f"{m}_checkpoint"].value for m in ("rgb", "flow")
                 if FLAGS[f"{m}_checkpoint"].value}
    if not templates:
        raise app.UsageError("give --rgb_checkpoint and/or --flow_checkpoint")
    kwargs = dict(label_map=FLAGS.label_map, max_frames=FLAGS.max_frames,
                  chunk_steps=FLAGS.chunk_steps, top_k=FLAGS.top_k)
    try:
        if FLAGS.splits:
            average = evaluate.run_splits(FLAGS.splits, FLAGS.shards, templates, FLAGS.output_dir,
                                          **kwargs)
            print(json.dumps(average))
        else:
            result = evaluate.run_evaluation(FLAGS.shards, templates, FLAGS.output_dir, **kwargs)
            print(json.dumps(result.metrics.summary()))
    except (streams.ClassCountError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    app.run(main)
