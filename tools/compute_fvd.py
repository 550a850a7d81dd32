r"""Fréchet Video Distance between two sets of videos, the reference implementation's way.

  python tools/compute_fvd.py --real=data/real_videos/ --generated='samples/step_*.npy' \
      --num_frames=16 --output_json=fvd.json --cache_dir=~/.cache/fvd

--real / --generated: a folder of video files (searched recursively), a .npy holding
[N, T, H, W, 3] pixel values in [0, 255], or a glob of video and/or .npy files. Each video is cut
to its first --num_frames frames (a shorter one is an error that names it). The network is the
RGB Kinetics-400 I3D (default: kinetics_i3d.checkpoints.pretrained; --checkpoint for another
release-layout RGB checkpoint); preprocessing "reference" is the FVD reference's (whole frame to
224x224 with TF1 bilinear, 2x/255 - 1); "center_crop" is NOT comparable to published FVDs.
With --cache_dir, each input set's embeddings are stored, keyed on the files (path, size, mtime),
--num_frames, --fps, --preprocessing and the checkpoint's sha256, so comparing many generators
against one real set embeds it once. Library: kinetics_i3d/serve/fvd.py.
"""
import json
import os

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags, logging

from kinetics_i3d.errors import UserError
from kinetics_i3d.serve import fvd

FLAGS = flags.FLAGS
flags.DEFINE_string("real", None, "Real videos: a folder, a .npy [N, T, H, W, 3] or a glob.")
flags.DEFINE_string("generated", None, "Generated videos: a folder, a .npy or a glob.")
flags.DEFINE_integer("num_frames", 16, "Frames per video, taken from the start (the reference's "
                     "users mostly use 16); I3D needs at least 9.")
flags.DEFINE_enum("preprocessing", "reference", list(fvd.PREPROCESSINGS),
                  "'reference' (the FVD reference's resize) or 'center_crop' (NOT the reference).")
flags.DEFINE_float("fps", None, "Resample video files to this rate by timestamps; default: every "
                   "frame as stored. Ignored for .npy inputs.")
flags.DEFINE_string("checkpoint", None, "Release-layout RGB I3D checkpoint prefix; default: the "
                    f"pretrained {fvd.PRETRAINED_NAME!r} network.")
flags.DEFINE_integer("batch_size", fvd.REFERENCE_BATCH_SIZE, "Videos per forward pass (does not "
                     "change the result).")
flags.DEFINE_string("cache_dir", None, "Cache embeddings per input set here (optional).")
flags.DEFINE_string("output_json", None, "Write the FVD and how it was computed here.")
flags.mark_flags_as_required(["real", "generated"])


def run() -> dict:
    if FLAGS.num_frames < 1:
        raise UserError(f"--num_frames must be >= 1, got {FLAGS.num_frames}")
    sides = {"real": fvd.resolve_inputs(FLAGS.real, "--real"),
             "generated": fvd.resolve_inputs(FLAGS.generated, "--generated")}
    counts = {side: fvd.count_input_videos(paths) for side, paths in sides.items()}
    for side, n in counts.items():
        if n < fvd.MIN_VIDEOS:
            raise UserError(f"--{side}={FLAGS[side].value}: {n} video(s); FVD needs at least "
                            f"{fvd.MIN_VIDEOS} per side")
    checkpoint = fvd.checkpoint_identity(FLAGS.checkpoint)
    model = fvd.load_model(checkpoint["checkpoint"])
    cache_dir = os.path.expanduser(FLAGS.cache_dir) if FLAGS.cache_dir else None
    activations, cache_hits = {}, {}
    for side, paths in sides.items():
        logging.info("embedding %s videos: %d from %s", side, counts[side], FLAGS[side].value)
        activations[side], cache_hits[side] = fvd.embed_inputs(
            paths, model, num_frames=FLAGS.num_frames, preprocessing=FLAGS.preprocessing,
            fps=FLAGS.fps, batch_size=FLAGS.batch_size, checkpoint=checkpoint,
            cache_dir=cache_dir, name=f"--{side}")
        if cache_hits[side]:
            logging.info("%s embeddings read from the cache in %s", side, cache_dir)
    score = float(fvd.frechet_distance(activations["real"], activations["generated"]))
    return {
        "fvd": score,
        "num_videos": {side: int(len(a)) for side, a in activations.items()},
        "inputs": {"real": FLAGS.real, "generated": FLAGS.generated},
        "settings": {"num_frames": FLAGS.num_frames, "preprocessing": FLAGS.preprocessing,
                     "fps": FLAGS.fps, "batch_size": FLAGS.batch_size,
                     "embedding": "Logits (400 logits averaged over time, no softmax)",
                     "distance": "tensorflow-gan frechet_classifier_distance_from_activations "
                                 "(float64, covariance / (n - 1), SVD square roots)"},
        "checkpoint": checkpoint,
        "cache": {"dir": cache_dir, "hit": cache_hits},
    }


def main(argv):
    del argv
    result = run()
    print(f"FVD: {result['fvd']:.4f} (real {result['num_videos']['real']} videos, generated "
          f"{result['num_videos']['generated']}, {FLAGS.num_frames} frames, "
          f"{FLAGS.preprocessing} preprocessing)")
    if FLAGS.output_json:
        parent = os.path.dirname(FLAGS.output_json)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(FLAGS.output_json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    cli.run(main)
