"""Benchmarks I3D's forward pass: clips/s and peak memory, eager vs tf.function vs XLA, with
oneDNN as the package sets it by default and with it off.

Each (oneDNN setting, mode) runs in a fresh subprocess, so its peak RSS is its own and TensorFlow
reads its oneDNN setting afresh: "default" leaves `TF_ENABLE_ONEDNN_OPTS` unset, so the package's
default (on) applies; "off" sets it to 0; "on" to 1. Prints the machine (CPU model, ISA class,
oneDNN state, threads, load), a table with the speed-up of each setting over "off", and writes
JSON.

  python tools/benchmark_model.py --frames=64 --size=224 --repeats=5 --output_json=/tmp/bm.json
  DNNL_MAX_CPU_ISA=AVX2 python tools/benchmark_model.py --modes=function   # AVX2 kernels
"""
import json
import os
import resource
import subprocess
import sys
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads
from kinetics_i3d import preprocessing

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_integer("frames", 64, "Clip length T.")
flags.DEFINE_integer("size", preprocessing.CROP_SIZE, "Frame height and width.")
flags.DEFINE_integer("batch", 1, "Clips per forward pass.")
flags.DEFINE_enum("modality", "rgb", ["rgb", "flow"], "Input stream.")
flags.DEFINE_integer("repeats", 5, "Timed forward passes per mode (after one warm-up).")
flags.DEFINE_list("modes", ["eager", "function", "xla"], "Modes to time.")
flags.DEFINE_list("onednn", ["default", "off"],
                  "oneDNN settings: default (TF_ENABLE_ONEDNN_OPTS unset: the package turns it "
                  "on), off (=0), on (=1).")
flags.DEFINE_string("output_json", None, "Write the results here.")
flags.DEFINE_string("_child", None, "Internal: run one mode and print its JSON.")

MODES = ("eager", "function", "xla")
ONEDNN_SETTINGS = {"default": None, "off": "0", "on": "1"}  # TF_ENABLE_ONEDNN_OPTS per setting


def _run_one(mode: str) -> dict:
    import numpy as np
    import tensorflow as tf

    from kinetics_i3d import machine
    from kinetics_i3d.models import InceptionI3d

    model = InceptionI3d(num_classes=400, modality=FLAGS.modality)
    channels = model.input_channels
    x = tf.random.uniform([FLAGS.batch, FLAGS.frames, FLAGS.size, FLAGS.size, channels], -1, 1)
    if mode == "eager":
        fn = lambda v: model(v, training=False)  # noqa: E731
    else:
        fn = tf.function(lambda v: model(v, training=False), jit_compile=(mode == "xla"))
    start = time.perf_counter()
    fn(x).numpy()
    first = time.perf_counter() - start
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {
        "mode": mode,
        "first_call_s": first,
        "median_s": median,
        "min_s": float(np.min(times)),
        "clips_per_s": FLAGS.batch / median,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "machine": machine.machine_info(),
    }


def main(argv):
    del argv
    if FLAGS._child:
        print("RESULT " + json.dumps(_run_one(FLAGS._child)))
        return
    bad = [m for m in FLAGS.modes if m not in MODES]
    if bad:
        raise app.UsageError(f"--modes: unknown {bad}; choose from {MODES}")
    bad = [m for m in FLAGS.onednn if m not in ONEDNN_SETTINGS]
    if bad:
        raise app.UsageError(f"--onednn: unknown {bad}; choose from {tuple(ONEDNN_SETTINGS)}")
    results = []
    for setting in FLAGS.onednn:
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if ONEDNN_SETTINGS[setting] is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = ONEDNN_SETTINGS[setting]
        for mode in FLAGS.modes:
            args = [sys.executable, os.path.abspath(__file__), f"--_child={mode}",
                    f"--frames={FLAGS.frames}", f"--size={FLAGS.size}", f"--batch={FLAGS.batch}",
                    f"--modality={FLAGS.modality}", f"--repeats={FLAGS.repeats}"]
            logging.info("running %s, oneDNN %s", mode, setting)
            proc = subprocess.run(args, capture_output=True, text=True, env=env)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"mode {mode}, oneDNN {setting} failed (exit "
                                   f"{proc.returncode}):\n{proc.stderr[-3000:]}")
            result = json.loads(lines[-1][len("RESULT "):])
            result["onednn_setting"] = setting
            results.append(result)
    off = {r["mode"]: r["median_s"] for r in results if not r["machine"]["onednn"]}
    for r in results:
        r["speedup_over_onednn_off"] = (off[r["mode"]] / r["median_s"]
                                        if r["mode"] in off else None)
    from kinetics_i3d import machine

    shape = [FLAGS.batch, FLAGS.frames, FLAGS.size, FLAGS.size, 3 if FLAGS.modality == "rgb" else 2]
    print(f"I3D {FLAGS.modality} forward, input {shape}")
    print(f"machine: {machine.describe(results[0]['machine'])}")
    print(f"{'oneDNN':<14}{'mode':<10}{'first call s':>14}{'median s':>10}{'clips/s':>10}"
          f"{'vs off':>8}{'peak RSS MiB':>14}")
    for r in results:
        state = f"{r['onednn_setting']} ({'on' if r['machine']['onednn'] else 'off'})"
        speedup = r["speedup_over_onednn_off"]
        print(f"{state:<14}{r['mode']:<10}{r['first_call_s']:>14.2f}{r['median_s']:>10.3f}"
              f"{r['clips_per_s']:>10.3f}{(f'{speedup:.2f}x' if speedup else '-'):>8}"
              f"{r['peak_rss_mib']:>14.0f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine inflates "
          "the times)")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"input_shape": shape, "machine": results[0]["machine"],
                       "load_avg_end": list(os.getloadavg()), "results": results}, f, indent=1)


if __name__ == "__main__":
    cli.run(main)
