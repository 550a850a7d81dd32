"""Peak memory and speed of whole-video I3D: chunked (kinetics_i3d.serve.chunked) vs one pass.

  python tools/benchmark_long_video.py                       # 10 s and 10 min, 64x64 (default)
  python tools/benchmark_long_video.py --size=112 --output_json=/tmp/long_video.json
  python tools/benchmark_long_video.py --tools --video_seconds=10,600   # the user-facing paths

`--tools` measures what users run instead (224 px, random weights in the release's checkpoint
layout): the peak RSS of the whole `tools/evaluate_sample.py --video` process (`os.wait4`'s
`ru_maxrss`: decoding, preprocessing, the chunked I3D) on synthetic 25 fps 320x240 MPEG-4 videos
of each `--video_seconds` (goal: 10 min <= 1.5x 10 s), and of a process that loads an exported
SavedModel and runs `serving_default` on `export.MAX_FRAMES` raw frames (its one-pass maximum)
and on one frame more (which it must reject).

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
import subprocess
import sys
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads
from kinetics_i3d import machine as machine_lib  # noqa: E402
from kinetics_i3d.serve.chunked import DEFAULT_CHUNK_STEPS  # noqa: E402

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_list("seconds", ["10", "600"],
                  "Video durations (s, at 25 fps) for the chunked method.")
flags.DEFINE_list("single_pass_seconds", ["10", "60"], "Durations for the one-pass baseline.")
flags.DEFINE_integer("size", 64, "Frame height and width in pixels.")
flags.DEFINE_integer("chunk_steps", DEFAULT_CHUNK_STEPS,
                     "Mixed_5c steps kept per chunk (8 frames each).")
flags.DEFINE_string("output_json", None, "Write the results here.")
flags.DEFINE_bool("tools", False, "Measure evaluate_sample --video and the SavedModel instead.")
flags.DEFINE_list("video_seconds", ["10", "600"], "--tools: durations of the synthetic videos.")
flags.DEFINE_string("work_dir", None, "--tools: where videos, checkpoint and SavedModel go "
                    "(default: a temporary folder, removed at the end).")
flags.DEFINE_enum("child", None, ["chunked", "single", "saved_model"],
                  "Internal: run one measurement.")
flags.DEFINE_string("child_path", None, "Internal: the SavedModel for --child=saved_model.")
flags.DEFINE_float("child_seconds", 10.0, "Internal: duration for --child.")

FPS = 25


def _synthetic_frames(num_frames: int, size: int):
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(num_frames):
        yield rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)


def _child() -> dict:
    import numpy as np
    import tensorflow as tf

    from kinetics_i3d.models import InceptionI3d
    from kinetics_i3d.serve import chunked

    num_frames = int(round(FLAGS.child_seconds * FPS))
    size = FLAGS.size
    model = InceptionI3d(num_classes=400, final_endpoint="Mixed_5c")
    runner = chunked.ChunkedI3D(model, chunk_steps=FLAGS.chunk_steps)
    warm = 16 * 8
    list(runner.mixed_5c(_synthetic_frames(warm, size), warm))  # trace + allocate once
    model(np.zeros((1, warm, size, size, 3), np.float32), training=False)
    baseline = machine_lib.rss_mib("VmRSS")
    reset = machine_lib.reset_peak_rss()
    start = time.perf_counter()
    if FLAGS.child == "chunked":
        pooled = runner.pooled_features(_synthetic_frames(num_frames, size), num_frames)
    else:
        video = np.stack(list(_synthetic_frames(num_frames, size)))
        out = runner._trunk(tf.constant(video[None]))  # one pass over the whole video
        pooled = out.numpy().mean(axis=(0, 1, 2, 3))
    elapsed = time.perf_counter() - start
    peak = machine_lib.peak_rss_mib(reset)
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
        "machine": machine_lib.machine_info(),
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


def _write_video(path: str, seconds: float) -> int:
    """A synthetic 25 fps 320x240 MPEG-4 video (a moving gradient with noise); returns frames."""
    import av
    import numpy as np

    n = int(round(seconds * FPS))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320]
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(n):
            base = ((xx + 3 * i) % 256)[..., None] * np.array([1.0, 0.6, 0.3]) + (yy % 64)[..., None]
            img = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return n


def _peak_rss_of(cmd: list[str]) -> tuple[float, float, str]:
    """Runs `cmd`; returns (its own peak RSS in MiB from wait4, wall s, stdout + stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - start, out


def _saved_model_child() -> dict:
    import numpy as np
    import tensorflow as tf

    from kinetics_i3d.serve import export

    fn = tf.saved_model.load(FLAGS.child_path).signatures["serving_default"]
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (1, export.MAX_FRAMES + 1, 240, 320, 3), dtype=np.uint8)
    start = time.perf_counter()
    fn(rgb=tf.constant(video[:, :export.MAX_FRAMES]))
    wall = time.perf_counter() - start
    try:
        fn(rgb=tf.constant(video))
        rejected = False
    except tf.errors.InvalidArgumentError as e:
        rejected = "more frames" in str(e)
    return {"frames": export.MAX_FRAMES, "wall_s": round(wall, 1),
            "longer_input_rejected": rejected}


def _load() -> list[float]:
    """1-, 5- and 15-minute load averages now (the other work on the machine included)."""
    return [round(x, 2) for x in os.getloadavg()]


def _tools(work: str) -> dict:
    from kinetics_i3d.checkpoints import export_released, write_checkpoint
    from kinetics_i3d.models import InceptionI3d
    from kinetics_i3d import labels
    from kinetics_i3d.serve import export

    model = InceptionI3d(num_classes=400, modality="rgb", dropout_rate=0.0)
    checkpoint = write_checkpoint(export_released(model), os.path.join(work, "rgb", "model.ckpt"))
    saved = export.export_saved_model(os.path.join(work, "saved_model"), {"rgb": model},
                                      labels.default_label_map(400))
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "evaluate_sample.py")
    results = []
    for seconds in (float(s) for s in FLAGS.video_seconds):
        video = os.path.join(work, f"synthetic_{seconds:g}s.mp4")
        frames = _write_video(video, seconds)
        logging.info("evaluate_sample --video over %g s (%d frames)", seconds, frames)
        peak, wall, _ = _peak_rss_of([sys.executable, tool, "--eval_type=rgb",
                                      f"--rgb_checkpoint={checkpoint}", f"--video={video}",
                                      f"--chunk_steps={FLAGS.chunk_steps}"])
        results.append({"what": "evaluate_sample --video", "seconds": seconds, "frames": frames,
                        "chunk_steps": FLAGS.chunk_steps, "peak_rss_mib": round(peak, 1),
                        "wall_s": round(wall, 1), "frames_per_s": round(frames / wall, 1),
                        "load_avg_at_end": _load()})
    logging.info("SavedModel serving_default on %d frames", export.MAX_FRAMES)
    peak, wall, out = _peak_rss_of([sys.executable, os.path.abspath(__file__),
                                    "--child=saved_model", f"--child_path={saved}"])
    child = json.loads(out.strip().splitlines()[-1])
    results.append({"what": "SavedModel serving_default", "seconds": child["frames"] / FPS,
                    "frames": child["frames"], "peak_rss_mib": round(peak, 1),
                    "wall_s": child["wall_s"], "load_avg_at_end": _load(),
                    "longer_input_rejected": child["longer_input_rejected"]})
    return {"size": 224, "results": results}


def main(argv):
    del argv
    if FLAGS.child == "saved_model":
        print(json.dumps(_saved_model_child()))
        return
    if FLAGS.child:
        print(json.dumps(_child()))
        return
    if FLAGS.tools:
        import tempfile

        machine = machine_lib.cpu_line()
        if FLAGS.work_dir:
            os.makedirs(FLAGS.work_dir, exist_ok=True)
            report = _tools(FLAGS.work_dir)
        else:
            with tempfile.TemporaryDirectory() as work:
                report = _tools(work)
        report["machine"] = machine
        print(f"machine: {machine}")
        print(f"{'what':28} {'chunk_steps':>11} {'video':>7} {'frames':>7} {'peak RSS':>9} "
              f"{'wall s':>7} {'load 5 min':>10}")
        for r in report["results"]:
            print(f"{r['what']:28} {r.get('chunk_steps', '-'):>11} {r['seconds']:6.0f}s "
                  f"{r['frames']:7d} {r['peak_rss_mib']:8.0f}M {r['wall_s']:7.1f} "
                  f"{r['load_avg_at_end'][1]:10.2f}"
                  + ("" if "longer_input_rejected" not in r else
                     f"  (MAX_FRAMES + 1 rejected: {r['longer_input_rejected']})"))
        videos = [r for r in report["results"] if r["what"].startswith("evaluate_sample")]
        if len(videos) >= 2:
            ratio = videos[-1]["peak_rss_mib"] / videos[0]["peak_rss_mib"]
            print(f"peak RSS {videos[-1]['seconds']:g} s / {videos[0]['seconds']:g} s: "
                  f"{ratio:.2f}x (goal <= 1.5x)")
        if FLAGS.output_json:
            with open(FLAGS.output_json, "w") as f:
                json.dump(report, f, indent=1)
        return
    jobs = [("chunked", float(s)) for s in FLAGS.seconds]
    jobs += [("single", float(s)) for s in FLAGS.single_pass_seconds]
    results = []
    for method, seconds in jobs:
        logging.info("running %s over %.0f s (%d frames) at %dx%d", method, seconds,
                     round(seconds * FPS), FLAGS.size, FLAGS.size)
        results.append(_run(method, seconds))

    header = f"{'method':8} {'video':>7} {'frames':>7} {'peak RSS':>9} {'above base':>10} " \
             f"{'wall s':>7} {'frames/s':>8}"
    print(f"machine: {machine_lib.describe(results[0]['machine'])}")
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
