r"""Exports a whole-video I3D model (RGB, Flow or two-stream) as a SavedModel that takes raw
uint8 frames.

  python tools/export_saved_model.py \
      --rgb_checkpoint=data/checkpoints/rgb_imagenet/model.ckpt \
      --flow_checkpoint=data/checkpoints/flow_imagenet/model.ckpt \
      --output_dir=/tmp/i3d_saved_model
  # a --model=two_stream_i3d trainer run (it writes no released/ checkpoint): from its model_dir
  python tools/export_saved_model.py --model=two_stream_i3d --model_dir=runs/two_stream_i3d \
      --output_dir=/tmp/i3d_saved_model
  saved_model_cli show --dir /tmp/i3d_saved_model --all
  saved_model_cli run --dir /tmp/i3d_saved_model --tag_set serve \
      --signature_def serving_default --inputs 'rgb=frames.npy;flow=flow.npy' --outdir /tmp/out

Which models it exports and which weight flags they take is read from their spec
(kinetics_i3d/specs.py, as tools/evaluate.py): the whole-video I3D models (`i3d`: --rgb_checkpoint
and/or --flow_checkpoint, release layout, e.g. a run's released/model.ckpt; `two_stream_i3d`:
both, or the trainer's --model_dir); a baseline is a one-line error (its test interface is fixed
snapshots, which no signature takes).

Signatures (see kinetics_i3d/serve/export.py): `serving_default` (rgb uint8 [B, T, H, W, 3] of
any size, flow float32 pixels [B, T', H', W', 2]; release preprocessing in the graph; logits,
probabilities, top-k indices / probabilities / class names), `features` (Mixed_5c pooled and
time series), `logits_preprocessed` (inputs already [B, T, 224, 224, C] in [-1, 1]).
"""

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags, logging

from kinetics_i3d import specs
from kinetics_i3d.serve import export

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "i3d", specs.video_names(),
                  "Whole-video I3D models only (the baselines are a one-line error). i3d: "
                  "--rgb_checkpoint and/or --flow_checkpoint (release layout); two_stream_i3d: "
                  "both, or the trainer's --model_dir.")
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (release layout).")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix (release layout).")
flags.DEFINE_string("model_dir", None, "two_stream_i3d: the trainer's --model_dir.")
flags.DEFINE_string("checkpoint", "auto", "With --model_dir: auto (best, else latest), best, "
                    "latest, or a checkpoint prefix.")
flags.DEFINE_string("label_map", None, "Class names, one per line (default: label_map.txt "
                    "beside the checkpoint or in --model_dir, as a trainer run has it, else the "
                    "shipped Kinetics-400 / -600 map matching the checkpoint's class count).")
flags.DEFINE_integer("top_k", None, "k of the top-k outputs (default 5, or the class count if "
                     "smaller; at most the class count).", lower_bound=1)
flags.DEFINE_string("output_dir", None, "Where to write the SavedModel.")
flags.mark_flag_as_required("output_dir")


def main(argv):
    del argv
    spec = export.served_spec(FLAGS.model)  # a baseline: one line saying why not
    cli.check_flag_rules(cli.WEIGHT_SOURCE_RULES, spec, models=export.served_names())
    checkpoints = cli.checkpoint_flags()
    if cli.weight_source(spec, checkpoints, FLAGS.model_dir) == cli.WEIGHTS_FROM_MODEL_DIR:
        export.export_model(FLAGS.output_dir, spec.name, model_dir=FLAGS.model_dir,
                            checkpoint=FLAGS.checkpoint, label_map=FLAGS.label_map,
                            top_k=FLAGS.top_k)
    else:
        export.export_model(FLAGS.output_dir, spec.name, checkpoints=checkpoints,
                            label_map=FLAGS.label_map, top_k=FLAGS.top_k)
    logging.info("wrote SavedModel with signatures %s to %s", export.SIGNATURES, FLAGS.output_dir)
    print(FLAGS.output_dir)


if __name__ == "__main__":
    cli.run(main)
