"""Peak memory and speed of whole-video I3D: chunked (kinetics_i3d.serve.chunked) vs one pass.

  python tools/benchmark_long_video.py                       # 10 s and 10 min, 64x64 (default)
  python tools/benchmark_long_video.py --size=112 --output_json=/tmp/long_video.json

Each measurement runs in a fresh process (so one run's peak does not hide another's): it builds a
random-weight RGB I3D (final endpoint Mixed_5c), warms it up, resets the kernel's peak-RSS
counter (`/proc/self/clear_refs`), then feeds synthetic frames from a generator, one frame at a
time at 25 fps (never the whole video in memory for the chunked method), and reports the peak
RSS above the warmed-up baseline. The single pass needs the whole video as one array, so it is
only run for the shorter durations (`--single_pass_seconds`). Spatial size defaults to 64x64 to
keep the default run short on a CPU; memory of both methods scales with H x W, the chunked one
not with T.
"""
import json
import os
import resource
import subprocess
import sys
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_list("seconds", ["10", "600"],
                  "Video durations (s, at 25 fps) for the chunked method.")
flags.DEFINE_list("single_pass_seconds", ["10", "60"], "Durations for the one-pass baseline.")
flags.DEFINE_integer("size", 64, "Frame height and width in pixels.")
flags.DEFINE_integer("chunk_steps", 32, "Mixed_5c steps kept per chunk (8 frames each).")
flags.DEFINE_string("output_json", None, "Write the results here.")
flags.DEFINE_enum("child", None, ["chunked", "single"], "Internal: run one measurement.")
flags.DEFINE_float("child_seconds", 10.0, "Internal: duration for --child.")

FPS = 25


def _rss_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux >= 4.0: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def _synthetic_frames(num_frames: int, size: int):
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(num_frames):
        yield rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)


def _child() -> dict:
    import numpy as np
    import tensorflow as tf

    from kinetics_i3d import machine
    from kinetics_i3d.models import InceptionI3d
    from kinetics_i3d.serve import chunked

    num_frames = int(round(FLAGS.child_seconds * FPS))
    size = FLAGS.size
    model = InceptionI3d(num_classes=400, final_endpoint="Mixed_5c")
    runner = chunked.ChunkedI3D(model, chunk_steps=FLAGS.chunk_steps)
    warm = 16 * 8
    list(runner.mixed_5c(_synthetic_frames(warm, size), warm))  # trace + allocate once
    model(np.zeros((1, warm, size, size, 3), np.float32), training=False)
    baseline = _rss_mib("VmRSS")
    reset = _reset_peak()
    start = time.perf_counter()
    if FLAGS.child == "chunked":
        pooled = runner.pooled_features(_synthetic_frames(num_frames, size), num_frames)
    else:
        video = np.stack(list(_synthetic_frames(num_frames, size)))
        out = runner._trunk(tf.constant(video[None]))  # one pass over the whole video
        pooled = out.numpy().mean(axis=(0, 1, 2, 3))
    elapsed = time.perf_counter() - start
    peak = _rss_mib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "method": FLAGS.child,
        "seconds": FLAGS.child_seconds,
        "frames": num_frames,
        "size": size,
        "chunk_steps": FLAGS.chunk_steps,
        "baseline_rss_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "peak_above_baseline_mib": round(peak - baseline, 1),
        "peak_reset": reset,
        "wall_s": round(elapsed, 2),
        "frames_per_s": round(num_frames / elapsed, 1),
        "feature_norm": float(np.linalg.norm(pooled)),
        "machine": machine.machine_info(),
    }


def _run(method: str, seconds: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), f"--child={method}",
           f"--child_seconds={seconds}", f"--size={FLAGS.size}",
           f"--chunk_steps={FLAGS.chunk_steps}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} {seconds}s failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    if FLAGS.child:
        print(json.dumps(_child()))
        return
    jobs = [("chunked", float(s)) for s in FLAGS.seconds]
    jobs += [("single", float(s)) for s in FLAGS.single_pass_seconds]
    results = []
    for method, seconds in jobs:
        logging.info("running %s over %.0f s (%d frames) at %dx%d", method, seconds,
                     round(seconds * FPS), FLAGS.size, FLAGS.size)
        results.append(_run(method, seconds))
    from kinetics_i3d import machine

    header = f"{'method':8} {'video':>7} {'frames':>7} {'peak RSS':>9} {'above base':>10} " \
             f"{'wall s':>7} {'frames/s':>8}"
    print(f"machine: {machine.describe(results[0]['machine'])}")
    print(header)
    for r in results:
        print(f"{r['method']:8} {r['seconds']:6.0f}s {r['frames']:7d} {r['peak_rss_mib']:8.0f}M "
              f"{r['peak_above_baseline_mib']:9.0f}M {r['wall_s']:7.1f} {r['frames_per_s']:8.1f}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"size": FLAGS.size, "chunk_steps": FLAGS.chunk_steps,
                       "machine": results[0]["machine"], "results": results}, f, indent=1)
        logging.info("wrote %s", FLAGS.output_json)


if __name__ == "__main__":
    cli.run(main)
