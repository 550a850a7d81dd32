r"""Exports I3D (RGB, Flow or two-stream) as a SavedModel that takes raw uint8 frames.

  python tools/export_saved_model.py \
      --rgb_checkpoint=data/checkpoints/rgb_imagenet/model.ckpt \
      --flow_checkpoint=data/checkpoints/flow_imagenet/model.ckpt \
      --output_dir=/tmp/i3d_saved_model
  saved_model_cli show --dir /tmp/i3d_saved_model --all
  saved_model_cli run --dir /tmp/i3d_saved_model --tag_set serve \
      --signature_def serving_default --inputs 'rgb=frames.npy;flow=flow.npy' --outdir /tmp/out

Signatures (see kinetics_i3d/serve/export.py): `serving_default` (rgb uint8 [B, T, H, W, 3] of
any size, flow float32 pixels [B, T', H', W', 2]; release preprocessing in the graph; logits,
probabilities, top-k indices / probabilities / class names), `features` (Mixed_5c pooled and
time series), `logits_preprocessed` (inputs already [B, T, 224, 224, C] in [-1, 1]).
"""

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags, logging

from kinetics_i3d.serve import export, metrics, streams

FLAGS = flags.FLAGS
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (release layout).")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix (release layout).")
flags.DEFINE_string("label_map", None, "Class names, one per line (default: label_map.txt "
                    "beside the checkpoint, as a trainer run's released/ has, else the shipped "
                    "Kinetics-400 / -600 map matching the checkpoint's class count).")
flags.DEFINE_integer("top_k", None, "k of the top-k outputs (default 5, or the class count if "
                     "smaller; at most the class count).", lower_bound=1)
flags.DEFINE_string("output_dir", None, "Where to write the SavedModel.")
flags.mark_flag_as_required("output_dir")


def main(argv):
    del argv
    checkpoints = {m: FLAGS[f"{m}_checkpoint"].value for m in ("rgb", "flow")
                   if FLAGS[f"{m}_checkpoint"].value}
    if not checkpoints:
        raise app.UsageError("give --rgb_checkpoint and/or --flow_checkpoint")
    models = streams.load_streams(checkpoints)
    num_classes = next(iter(models.values())).num_classes
    for modality, checkpoint in checkpoints.items():
        logging.info("%s stream: %s, %d classes", modality, checkpoint, num_classes)
    names = streams.class_names(num_classes, FLAGS.label_map,
                                checkpoint=next(iter(checkpoints.values())))
    top_k = metrics.resolve_top_k(FLAGS.top_k, num_classes)
    export.export_saved_model(FLAGS.output_dir, models, names, top_k=top_k)
    logging.info("wrote SavedModel with signatures %s to %s", export.SIGNATURES, FLAGS.output_dir)
    print(FLAGS.output_dir)


if __name__ == "__main__":
    cli.run(main)
