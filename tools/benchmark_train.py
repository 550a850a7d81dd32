r"""Benchmarks I3D training steps: steps/s and clips/s per batch size, with and without XLA.

Each row is a full trainer step (forward, backward, weight decay, SGD-momentum update) on a cached
synthetic batch, so input decoding is not timed (see benchmark_input.py for that). Mixed
precision rows run only where a GPU is present (mixed_float16 on CPU is emulated and slower).

  python tools/benchmark_train.py --batch_sizes=1,2 --num_frames=64 --crop_size=224 \
      --steps=3 --output_json=/tmp/benchmark_train.json
"""
import json
import os
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads
from kinetics_i3d import preprocessing

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "2"], "Global batch sizes (clips per step).")
flags.DEFINE_integer("num_frames", 64, "Frames per clip (paper: 64).")
flags.DEFINE_integer("crop_size", preprocessing.CROP_SIZE, "Crop side in pixels (paper: 224).")
flags.DEFINE_enum("modality", "rgb", ["rgb", "flow"], "Input stream.")
flags.DEFINE_list("jit_compile", ["off", "on"], "XLA settings to time: off, on.")
flags.DEFINE_list("precisions", ["float32", "mixed_float16"],
                  "Precisions; mixed_float16 is skipped without a GPU.")
flags.DEFINE_integer("warmup_steps", 1, "Untimed steps (tracing, XLA compilation).")
flags.DEFINE_integer("steps", 3, "Timed steps per row.")
flags.DEFINE_string("output_json", None, "Write the results here.")


def _row(batch: int, jit: bool, precision: str) -> dict:
    import keras

    from kinetics_i3d.train import TrainConfig, Trainer
    from kinetics_i3d.train.inputs import synthetic_dataset_fn

    config = TrainConfig(model="i3d", modality=FLAGS.modality, train_pattern="synthetic",
                         num_classes=400, num_frames=FLAGS.num_frames, crop_size=FLAGS.crop_size,
                         batch_size_per_replica=batch, model_dir="/nonexistent-unused",
                         lr_schedule="steps", lr_values=(0.1,), eval_every=0,
                         jit_compile=jit, mixed_precision=precision == "mixed_float16")
    trainer = Trainer(config)
    channels = 3 if FLAGS.modality == "rgb" else 2
    iterator = iter(trainer.strategy.distribute_datasets_from_function(
        synthetic_dataset_fn(config, trainer.global_batch, channels)))
    start = time.perf_counter()
    for _ in range(FLAGS.warmup_steps):
        trainer.train_step(iterator)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(FLAGS.steps):
        trainer.train_step(iterator)
        logging.info("batch %d jit %s %s: step %d/%d", batch, jit, precision, i + 1, FLAGS.steps)
    seconds = (time.perf_counter() - start) / FLAGS.steps
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    return {"batch": batch, "jit_compile": jit, "precision": precision,
            "seconds_per_step": seconds, "steps_per_sec": 1.0 / seconds,
            "examples_per_sec": batch / seconds, "warmup_seconds": warmup}


def main(argv):
    del argv
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    rows, skipped = [], []
    for precision in FLAGS.precisions:
        if precision not in ("float32", "mixed_float16"):
            raise app.UsageError(f"--precisions: unknown {precision!r} (float32, mixed_float16)")
        if precision == "mixed_float16" and not gpus:
            skipped.append("mixed_float16: no GPU on this machine")
            continue
        for jit in FLAGS.jit_compile:
            if jit not in ("off", "on"):
                raise app.UsageError(f"--jit_compile: expected off or on, got {jit!r}")
            for batch in FLAGS.batch_sizes:
                rows.append(_row(int(batch), jit == "on", precision))
    from kinetics_i3d import machine

    device = gpus[0].name if gpus else f"CPU ({os.cpu_count()} cores)"
    info = machine.machine_info()
    print(f"I3D {FLAGS.modality} training step, {FLAGS.num_frames}x{FLAGS.crop_size}x"
          f"{FLAGS.crop_size}, device {device}, {FLAGS.steps} timed steps per row")
    print(f"machine: {machine.describe(info)}")
    print(f"{'batch':>5} {'xla':>4} {'precision':>14} {'s/step':>8} {'steps/s':>8} "
          f"{'clips/s':>8} {'warm-up s':>9}")
    for r in rows:
        print(f"{r['batch']:>5} {('on' if r['jit_compile'] else 'off'):>4} {r['precision']:>14} "
              f"{r['seconds_per_step']:>8.2f} {r['steps_per_sec']:>8.3f} "
              f"{r['examples_per_sec']:>8.3f} {r['warmup_seconds']:>9.1f}")
    for line in skipped:
        print(f"skipped: {line}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"device": device, "machine": info,
                       "num_frames": FLAGS.num_frames, "crop_size": FLAGS.crop_size,
                       "modality": FLAGS.modality, "rows": rows, "skipped": skipped}, f, indent=2)
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    cli.run(main)
