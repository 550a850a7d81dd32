r"""Bootstraps an I3D checkpoint from TF-slim's ImageNet Inception-v1 (paper sec. 2.4).

Writes the inflated weights in the layout of DeepMind's released checkpoints
(`RGB/inception_i3d/...` or `Flow/inception_i3d/...`), so `restore_released` and the trainer load
it unchanged. The logits are freshly initialised for `--num_classes`.

  python tools/inflate_inception_v1.py \
    --imagenet_checkpoint=/data/inception_v1_2016_08_28/inception_v1.ckpt \
    --modality=rgb --num_classes=400 --inflation=repeat \
    --output_checkpoint=/data/i3d/rgb_imagenet_inflated/model.ckpt
"""

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags, logging

from kinetics_i3d.checkpoints import INFLATION_METHODS, inflate_inception_v1, write_checkpoint

FLAGS = flags.FLAGS
flags.DEFINE_string("imagenet_checkpoint", None,
                    "Prefix of the TF-slim InceptionV1 checkpoint (e.g. .../inception_v1.ckpt).")
flags.DEFINE_enum("modality", "rgb", ["rgb", "flow"],
                  "I3D stream to build; flow's first conv takes the RGB kernel's channel mean.")
flags.DEFINE_integer("num_classes", 400, "Classes of the new (freshly initialised) logits layer.")
flags.DEFINE_string("output_checkpoint", None, "Prefix of the checkpoint to write.")
flags.DEFINE_enum("inflation", "repeat", list(INFLATION_METHODS),
                  "repeat: 2D kernel repeated over time / N (the paper); centre: 2D kernel at "
                  "the middle time step, zeros elsewhere.")
flags.DEFINE_integer("seed", 0, "Seed of the logits initialisation.")
flags.mark_flags_as_required(["imagenet_checkpoint", "output_checkpoint"])


def main(argv):
    del argv
    if FLAGS.num_classes < 1:
        raise app.UsageError(f"--num_classes must be positive, got {FLAGS.num_classes}")
    values = inflate_inception_v1(
        FLAGS.imagenet_checkpoint,
        modality=FLAGS.modality,
        num_classes=FLAGS.num_classes,
        method=FLAGS.inflation,
        seed=FLAGS.seed,
    )
    write_checkpoint(values, FLAGS.output_checkpoint)
    logging.info("wrote %d variables (%s, %s inflation, %d classes) to %s", len(values),
                 FLAGS.modality, FLAGS.inflation, FLAGS.num_classes, FLAGS.output_checkpoint)


if __name__ == "__main__":
    cli.run(main)
