r"""Evaluation of any registered video model (`--model`, kinetics_i3d/specs.py) on MediaSequence
test shards: I3D (RGB, Flow, two-stream; --model=two_stream_i3d needs both streams) from
release-layout checkpoints, or a baseline or Two-Stream I3D from its trainer --model_dir.

  python tools/evaluate.py --shards='data/kinetics400/test-*.tfrecord' \
      --rgb_checkpoint=runs/rgb/model.ckpt --flow_checkpoint=runs/flow/model.ckpt \
      --output_dir=eval/kinetics400
  # UCF-101 / HMDB-51: mean over the three splits ({split} is replaced by each value)
  python tools/evaluate.py --splits=1,2,3 --shards='data/ucf101/test_split{split}-*.tfrecord' \
      --rgb_checkpoint='runs/ucf101_split{split}/rgb/model.ckpt' --label_map=ucf101_labels.txt \
      --output_dir=eval/ucf101

Test interface (paper sec. 2.5): all frames of each video, 224 centre crop, logits averaged over
time; two streams: logits added. Writes to --output_dir (per split in split_<s>/ with --splits):
metrics.json (top1, top5 (top{k} with --top_k) unless <= 5 classes, mean class accuracy;
fused and per stream), per_class_accuracy.csv, confusion.csv, confusion.png (row-normalised
heat map with the class names), predictions.jsonl (media id, label, top-5), logits.npz; with --splits also splits.json (mean and per-split numbers).

The baselines trained by tools/train.py, in their own test interfaces (Table 1: ConvNet+LSTM 50
frames, last step; C3D 15 clips of 16 averaged; Two-Stream 25 snapshots averaged; 3D-Fused 25 rgb
+ 250 flow), restored from the run's --model_dir (best checkpoint if any, else the newest):

  python tools/evaluate.py --model=two_stream --model_dir=runs/two_stream \
      --shards='data/kinetics400/test-*.tfrecord' --output_dir=eval/two_stream
"""
import json

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags

from kinetics_i3d import specs
from kinetics_i3d.serve import chunked, evaluate

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "i3d", specs.video_names(),
                  "i3d: --rgb_checkpoint and/or --flow_checkpoint (release layout, e.g. a run's "
                  "released/model.ckpt); two_stream_i3d: both, or a trainer --model_dir; the "
                  "baselines: the trainer's --model_dir.")
flags.DEFINE_string("shards", None, "Test shard pattern (with {split} when --splits is given).")
flags.DEFINE_string("model_dir", None, "Baselines, two_stream_i3d: the trainer's --model_dir (with {split} when "
                    "--splits is given).")
flags.DEFINE_string("checkpoint", "auto", "With --model_dir: auto (best, else latest), best, latest, or "
                    "a checkpoint prefix.")
flags.DEFINE_integer("num_classes", None, "With --model_dir: expected class count (default: the label "
                     "map's, else the checkpoint's).", lower_bound=1)
flags.DEFINE_integer("batch_size", 1, "Baselines: videos per forward pass.", lower_bound=1)
flags.DEFINE_integer("crop_size", 0, "Baselines: crop side (0: the interface's; give the run's "
                     "--crop_size).", lower_bound=0)
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (release layout).")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix (release layout).")
flags.DEFINE_list("splits", None, "Split names substituted for {split}; results are averaged.")
flags.DEFINE_string("label_map", None, "Class names, one per line (default: label_map.txt "
                    "beside the (first) checkpoint, or in --model_dir, as trainer runs write it; "
                    "else the shipped Kinetics-400 / -600 map matching the class count).")
flags.DEFINE_string("output_dir", None, "Where to write the results.")
flags.DEFINE_integer("max_frames", None, "Evaluate at most the first N frames of each video.",
                     lower_bound=1)
flags.DEFINE_integer("chunk_steps", chunked.DEFAULT_CHUNK_STEPS,
                     "Mixed_5c steps per chunk (8 frames each); bounds memory on long videos.",
                     lower_bound=1)
flags.DEFINE_integer("top_k", None, "k of top-k accuracy, reported as top{k} (default 5 as in "
                     "the paper, or the class count if fewer); at most the class count; not "
                     "reported when k = the class count (always 1).", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace results in --output_dir made with other settings "
                  "(default: stop and list the differences).")
flags.mark_flag_as_required("shards")
flags.mark_flag_as_required("output_dir")


# Which flags apply to a model, read from its spec (`kinetics_i3d.specs`): where its weights come
# from (`cli.WEIGHT_SOURCE_RULES`, shared with the export tool: release-layout checkpoints per
# stream, or a trainer --model_dir for models whose runs write no released/), and the
# prediction's own options.
FLAG_RULES = {
    **cli.WEIGHT_SOURCE_RULES,
    "num_classes": ("trainer-run", lambda s: not s.released_export),
    **{f: ("whole-video", lambda s: s.test_prediction == specs.PREDICT_WHOLE_VIDEO)
       for f in ("max_frames", "chunk_steps")},
    **{f: ("snapshot", lambda s: s.test_prediction == specs.PREDICT_SNAPSHOTS)
       for f in ("batch_size", "crop_size")},
}


def _kwargs(spec: specs.ModelSpec) -> tuple[dict, dict]:
    """(checkpoint arguments, evaluation keyword arguments) for --model, per its spec."""
    cli.check_flag_rules(FLAG_RULES, spec)
    try:
        spec.check_crop_size(FLAGS.crop_size)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    common = dict(label_map=FLAGS.label_map, top_k=FLAGS.top_k, overwrite=FLAGS.overwrite)
    whole_video = ({"max_frames": FLAGS.max_frames, "chunk_steps": FLAGS.chunk_steps}
                   if spec.test_prediction == specs.PREDICT_WHOLE_VIDEO else {})
    templates = cli.checkpoint_flags()
    if cli.weight_source(spec, templates, FLAGS.model_dir) == cli.WEIGHTS_FROM_CHECKPOINTS:
        return {"checkpoints": templates}, dict(common, model=spec.name, **whole_video)
    snapshot = ({} if whole_video else
                {"batch_size": FLAGS.batch_size, "crop_size": FLAGS.crop_size or None})
    return ({"model_dir": FLAGS.model_dir},
            dict(common, checkpoint=FLAGS.checkpoint, num_classes=FLAGS.num_classes,
                 **snapshot, **whole_video))


def main(argv):
    del argv
    spec = specs.get_spec(FLAGS.model)
    where, kwargs = _kwargs(spec)
    if FLAGS.splits:
        model = kwargs.pop("model", FLAGS.model)
        average = evaluate.run_splits(FLAGS.splits, FLAGS.shards, where.get("checkpoints"),
                                      FLAGS.output_dir, model=model,
                                      model_dir=where.get("model_dir"), **kwargs)
        print(json.dumps(average))
    elif "checkpoints" in where:
        result = evaluate.run_evaluation(FLAGS.shards, where["checkpoints"], FLAGS.output_dir,
                                         **kwargs)
        print(json.dumps(result.metrics.summary()))
    else:
        result = evaluate.run_model_evaluation(FLAGS.model, FLAGS.shards, FLAGS.model_dir,
                                               FLAGS.output_dir, **kwargs)
        print(json.dumps(result.metrics.summary()))


if __name__ == "__main__":
    cli.run(main)
