r"""FVD embedding speed (videos/s) and peak memory for N videos (kinetics_i3d.serve.fvd.embed).

  python tools/benchmark_fvd.py                                # batch 1 and 16, memory N=32,256
  python tools/benchmark_fvd.py --weights=random --memory_n=32 --output_json=/tmp/fvd.json

Videos are 16 frames of 224x224 uint8 (the reference's input size, so the resize is the
identity-size TF1 bilinear), "reference" preprocessing, generated on the fly. Throughput: per
batch size, one warm-up batch, then `--videos` videos timed. Memory: each N runs in a fresh
process that warms the model up, resets the kernel's peak-RSS counter, then embeds N videos
streamed from a generator (as `tools/compute_fvd.py` streams decoded files), and reports the
peak RSS and the peak above the warmed-up baseline: flat in N when the embedding is streamed.
Weights do not change speed: `--weights=random` uses Keras' initialisation when the pretrained
network is not installed.
"""
import json
import os
import subprocess
import sys
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads
from kinetics_i3d import machine as machine_lib  # noqa: E402

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_list("batch_sizes", ["1", "16"], "Batch sizes for the throughput runs.")
flags.DEFINE_integer("videos", 32, "Videos timed per batch size (after one warm-up batch).")
flags.DEFINE_list("memory_n", ["32", "256"], "Set sizes N for the peak-memory runs.")
flags.DEFINE_integer("num_frames", 16, "Frames per video.")
flags.DEFINE_integer("size", 224, "Frame height and width.")
flags.DEFINE_enum("weights", "pretrained", ["pretrained", "random"], "Which network weights.")
flags.DEFINE_string("output_json", None, "Write the results here.")
flags.DEFINE_integer("child_n", None, "Internal: run one memory measurement for N videos.")


def _model():
    from kinetics_i3d.models import InceptionI3d
    from kinetics_i3d.serve import fvd

    if FLAGS.weights == "random":
        return InceptionI3d(num_classes=400, modality="rgb")
    return fvd.load_model()


def _videos(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (FLAGS.num_frames, FLAGS.size, FLAGS.size, 3)
    for _ in range(n):
        yield rng.integers(0, 256, shape, dtype=np.uint8)


def _throughput(model) -> list[dict]:
    from kinetics_i3d.serve import fvd

    out = []
    for batch_size in map(int, FLAGS.batch_sizes):
        fvd.embed(_videos(batch_size), model=model, batch_size=batch_size)  # trace + warm up
        n = max(FLAGS.videos // batch_size, 1) * batch_size
        start = time.perf_counter()
        emb = fvd.embed(_videos(n), model=model, batch_size=batch_size)
        wall = time.perf_counter() - start
        assert emb.shape == (n, model.num_classes)
        out.append({"batch_size": batch_size, "videos": n, "wall_s": round(wall, 2),
                    "videos_per_s": round(n / wall, 3), "s_per_video": round(wall / n, 3)})
        logging.info("batch %d: %.3f videos/s", batch_size, n / wall)
    return out


def _child() -> dict:
    from kinetics_i3d.serve import fvd

    model = _model()
    fvd.embed(_videos(fvd.REFERENCE_BATCH_SIZE), model=model)  # trace + allocate once
    baseline = machine_lib.rss_mib("VmRSS")
    reset = machine_lib.reset_peak_rss()
    start = time.perf_counter()
    emb = fvd.embed(_videos(FLAGS.child_n), model=model)
    wall = time.perf_counter() - start
    peak = machine_lib.peak_rss_mib(reset)
    return {"n": FLAGS.child_n, "embeddings": list(emb.shape), "baseline_rss_mib": round(baseline),
            "peak_rss_mib": round(peak), "peak_above_baseline_mib": round(peak - baseline),
            "peak_reset": reset, "wall_s": round(wall, 1),
            "videos_per_s": round(FLAGS.child_n / wall, 3)}


def _memory(n: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), f"--child_n={n}",
           f"--num_frames={FLAGS.num_frames}", f"--size={FLAGS.size}",
           f"--weights={FLAGS.weights}"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"memory run N={n} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    if FLAGS.child_n:
        print(json.dumps(_child()))
        return


    machine = machine_lib.machine_info()
    throughput = _throughput(_model())
    memory = [_memory(int(n)) for n in FLAGS.memory_n]
    machine["load_avg_1m_end"] = os.getloadavg()[0]
    print(f"FVD embedding, {FLAGS.num_frames}x{FLAGS.size}x{FLAGS.size} uint8 videos, "
          f"{FLAGS.weights} weights")
    print(f"machine: {machine_lib.describe(machine)}; load at the end "
          f"{machine['load_avg_1m_end']:.2f}")
    print(f"{'batch':>5} {'videos':>6} {'wall s':>7} {'videos/s':>8}")
    for r in throughput:
        print(f"{r['batch_size']:5d} {r['videos']:6d} {r['wall_s']:7.1f} {r['videos_per_s']:8.3f}")
    print(f"{'N':>5} {'peak RSS':>9} {'above base':>10} {'wall s':>7} {'videos/s':>8}")
    for r in memory:
        print(f"{r['n']:5d} {r['peak_rss_mib']:8d}M {r['peak_above_baseline_mib']:9d}M "
              f"{r['wall_s']:7.1f} {r['videos_per_s']:8.3f}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"machine": machine, "num_frames": FLAGS.num_frames, "size": FLAGS.size,
                       "weights": FLAGS.weights, "throughput": throughput, "memory": memory},
                      f, indent=1)
        logging.info("wrote %s", FLAGS.output_json)


if __name__ == "__main__":
    cli.run(main)
