r"""Evaluates DeepMind's released I3D checkpoints on a sample input, as the release's sample does.

  python tools/evaluate_sample.py --eval_type=joint \
      --rgb_checkpoint=data/checkpoints/rgb_imagenet/model.ckpt \
      --flow_checkpoint=data/checkpoints/flow_imagenet/model.ckpt \
      --rgb_input=data/v_CricketShot_g04_c01_rgb.npy \
      --flow_input=data/v_CricketShot_g04_c01_flow.npy

Prints "Norm of logits: X" and the top 20 classes as "probability logit name".

Instead of the .npy inputs, `--video=clip.mp4` takes a raw video through the release's
preprocessing (25 fps, short side 256, 224 centre crop, [-1, 1]; flow by TV-L1, slow on CPU).

Videos of any length: the whole-video logits are computed one chunk at a time
(`kinetics_i3d.serve.chunked`, equal to the paper's single pass within float32 rounding); `--video`
is decoded twice (a first pass counts the frames) and streamed, never held in memory whole, and
`.npy` inputs are memory-mapped. Peak memory does not grow with the length (BUILD_NOTES.md,
"Long videos").
"""
import json
import os

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags, logging

from kinetics_i3d import labels as label_maps
from kinetics_i3d.errors import UserError
from kinetics_i3d.serve import sample

FLAGS = flags.FLAGS
flags.DEFINE_enum("eval_type", "joint", sorted(sample.EVAL_TYPES), "Which streams to run.")
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (e.g. .../rgb_imagenet/model.ckpt).")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix.")
flags.DEFINE_string("rgb_input", None, ".npy input [1, T, 224, 224, 3] in [-1, 1], or an RGB "
                    ".gif of it (the release's sample GIF: frames used as stored).")
flags.DEFINE_string("flow_input", None, ".npy input [1, T, 224, 224, 2] in [-1, 1].")
flags.DEFINE_string("video", None, "A raw video file instead of --rgb_input/--flow_input.")
flags.DEFINE_integer("video_frames", None, "Use only the first N frames of --video.",
                     lower_bound=1)
flags.DEFINE_enum("flow_backend", "opencv", ["opencv", "tf"], "TV-L1 implementation for --video.")
flags.DEFINE_string("label_map", None, "Class names, one per line (default: label_map.txt beside "
                    "the checkpoint, as a trainer run's released/ has; else the shipped "
                    "Kinetics-400, or Kinetics-600 for --eval_type=rgb600).")
flags.DEFINE_string("output_json", None, "Also write logits, norm and top classes here.")
flags.DEFINE_integer("top_k", None, "How many classes to print (default 20 as the release, or "
                     "the class count if fewer; at most the class count).", lower_bound=1)
flags.DEFINE_integer("chunk_steps", None, "Mixed_5c steps (8 frames each) kept per chunk of the "
                     "whole-video pass; memory grows with it, not with the video (default: "
                     "kinetics_i3d.serve.chunked.DEFAULT_CHUNK_STEPS).", lower_bound=1)


def _check_flags():
    """Every flag checked before a video is decoded or a model built: inputs exist, the
    --output_json folder exists, the checkpoints resolve (one-line errors naming the flag)."""
    from kinetics_i3d.checkpoints import resolve_checkpoint

    streams = sample.EVAL_TYPES[FLAGS.eval_type]
    for modality in streams:
        if not FLAGS[f"{modality}_checkpoint"].value:
            raise app.UsageError(f"--eval_type={FLAGS.eval_type} needs --{modality}_checkpoint")
    if FLAGS.video:
        if any(FLAGS[f"{m}_input"].value for m in ("rgb", "flow")):
            raise app.UsageError("--video replaces --rgb_input/--flow_input; give one or the other")
        if not os.path.isfile(FLAGS.video):
            raise UserError(f"--video={FLAGS.video}: no such file")
    for modality in streams if not FLAGS.video else ():
        path = FLAGS[f"{modality}_input"].value
        if not path:
            raise app.UsageError(f"--eval_type={FLAGS.eval_type} needs --{modality}_input (or --video)")
        if not os.path.isfile(path):
            raise UserError(f"--{modality}_input={path}: no such file")
    folder = os.path.dirname(os.path.abspath(FLAGS.output_json)) if FLAGS.output_json else None
    if folder and not os.path.isdir(folder):
        raise UserError(f"--output_json={FLAGS.output_json}: folder {folder} does not exist")
    for modality in streams:
        resolve_checkpoint(FLAGS[f"{modality}_checkpoint"].value, f"{modality}_checkpoint")


def _inputs(streams):
    """{modality: array [1, T, 224, 224, C] (memory-mapped) or (frames, T) streamed from
    --video}: `sample.evaluate`'s inputs."""
    if FLAGS.video:
        # The same streamed frames as feature extraction: decoder -> 25 fps -> short side 256
        # -> 224 centre crop -> [-1, 1] (flow: TV-L1 on the 256-px frames), a block at a time.
        from kinetics_i3d.serve import features

        item = next(features.file_items([FLAGS.video], None, streams, features.InputSize(),
                                        FLAGS.video_frames, FLAGS.flow_backend))
        inputs = {m: item.frames[m]() for m in streams}
        for m, (_, n) in inputs.items():
            logging.info("%s input from %s: %d frames, streamed", m, FLAGS.video, n)
    else:
        inputs = {m: sample.load_input(FLAGS[f"{m}_input"].value, m) for m in streams}
        for m, array in inputs.items():
            logging.info("%s input from %s, shape %s", m, FLAGS[f"{m}_input"].value, array.shape)
    return inputs


def main(argv):
    del argv
    _check_flags()
    streams = sample.EVAL_TYPES[FLAGS.eval_type]
    checkpoint = FLAGS[f"{streams[0]}_checkpoint"].value
    label_map = FLAGS.label_map or label_maps.label_map_beside(checkpoint)
    if label_map:
        if not FLAGS.label_map:
            logging.info("class names from %s (beside the checkpoint)", label_map)
        names = label_maps.load_label_map(label_map)
    else:
        names = label_maps.default_label_map(600 if FLAGS.eval_type == "rgb600" else 400)
    inputs = _inputs(streams)
    result = sample.evaluate(
        FLAGS.eval_type,
        names,
        rgb_checkpoint=FLAGS.rgb_checkpoint if "rgb" in streams else None,
        flow_checkpoint=FLAGS.flow_checkpoint if "flow" in streams else None,
        rgb_input=inputs.get("rgb"),
        flow_input=inputs.get("flow"),
        **({"chunk_steps": FLAGS.chunk_steps} if FLAGS.chunk_steps is not None else {}),
    )
    print(sample.format_report(result, FLAGS.top_k))
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(result.to_json(FLAGS.top_k), f, indent=1)
        logging.info("wrote %s", FLAGS.output_json)


if __name__ == "__main__":
    cli.run(main)
