"""Benchmarks the input pipeline against the rate an I3D train step consumes clips.

Builds MediaSequence shards in a temporary directory (real frames from the shared fixture clips,
resized to a 256-pixel short side and looped to `--frames_per_video`; synthetic smooth flow, since
TV-L1 at 256 px would dominate the set-up), then times in one process:
  - training clips/s of `make_dataset(..., "i3d", "train")`: 64x224x224 rgb + flow;
  - test videos/s of `make_dataset(..., "i3d", "test")`: whole videos, centre crop;
  - one I3D train step (forward, backward, SGD momentum) per stream at batch 1, 64x224x224:
    the Two-Stream I3D consumes a clip per RGB step plus a flow step.
Prints a table and writes JSON with `--output_json`.

  python tools/benchmark_input.py --output_json=/tmp/input.json
"""
import json
import os
import shutil
import sys
import tempfile
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("videos_dir", None, "Source clips (default: ../shared/fixtures/videos).")
flags.DEFINE_integer("num_videos", 8, "Videos written to the shards.")
flags.DEFINE_integer("num_shards", 4, "Shard files.")
flags.DEFINE_integer("frames_per_video", 250, "Frames per video (Kinetics: 10 s at 25 fps).")
flags.DEFINE_integer("batch_size", 2, "Training batch size for the pipeline timing.")
flags.DEFINE_integer("train_batches", 12, "Timed training batches (after 2 warm-up batches).")
flags.DEFINE_integer("train_steps", 3, "Timed I3D train steps per stream (after 1 warm-up); "
                     "0 skips the model.")
flags.DEFINE_string("workdir", None, "Where to build the shards (default: a temp dir, removed).")
flags.DEFINE_string("output_json", None, "Write the results here.")


def _smooth_flow(num_frames: int, height: int, width: int, seed: int):
    """`[num_frames, H, W, 2]` float32 pixels: smooth moving fields, +-12 px, like TV-L1 output."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((num_frames, height, width, 2), np.float32)
    fx, fy, phase = rng.uniform(0.005, 0.03, 2), rng.uniform(0.005, 0.03, 2), rng.uniform(0, 6, 2)
    for t in range(num_frames):
        for c in range(2):
            out[t, ..., c] = 12.0 * np.sin(fx[c] * xx + fy[c] * yy + phase[c] + 0.1 * t)
    return out + rng.normal(0.0, 0.3, out.shape).astype(np.float32)


def build_shards(workdir: str, videos_dir: str) -> list[str]:
    import numpy as np
    import tensorflow as tf

    from kinetics_i3d.ingest import sequence, video

    sources = sorted(f for f in os.listdir(videos_dir) if f.endswith(".mp4"))
    if not sources:
        raise FileNotFoundError(f"--videos_dir={videos_dir}: no .mp4 files")
    clips = {name: video.read_video(os.path.join(videos_dir, name)).rgb
             for name in sources}
    paths = [os.path.join(workdir, f"bench-{i:05d}-of-{FLAGS.num_shards:05d}.tfrecord")
             for i in range(FLAGS.num_shards)]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    start = time.perf_counter()
    for v in range(FLAGS.num_videos):
        frames = clips[sources[v % len(sources)]]
        rgb = frames[np.arange(FLAGS.frames_per_video) % len(frames)]
        flow = _smooth_flow(FLAGS.frames_per_video - 1, rgb.shape[1], rgb.shape[2], seed=v)
        example = sequence.make_sequence_example(
            rgb, flow, fps=25, label_index=v % 400, label_string=f"class_{v % 400}",
            media_id=f"video_{v}")
        writers[v % len(writers)].write(example.SerializeToString())
        logging.info("built video %d/%d (%s, %s) after %.1f s", v + 1, FLAGS.num_videos,
                     sources[v % len(sources)], rgb.shape, time.perf_counter() - start)
    for w in writers:
        w.close()
    return paths


def time_pipeline(pattern: str) -> dict:
    from kinetics_i3d.data import make_dataset

    result = {}
    ds = make_dataset(pattern, "i3d", "train", batch_size=FLAGS.batch_size, seed=0)
    it = iter(ds)
    for _ in range(2):
        next(it)
    start = time.perf_counter()
    for _ in range(FLAGS.train_batches):
        batch = next(it)
    elapsed = time.perf_counter() - start
    result["train_clip_shapes"] = {k: list(batch[k].shape[1:]) for k in ("rgb", "flow")}
    result["train_clips_per_s"] = FLAGS.train_batches * FLAGS.batch_size / elapsed
    ds = make_dataset(pattern, "i3d", "test", batch_size=1)
    start = time.perf_counter()
    count = sum(1 for _ in ds)
    result["test_videos_per_s"] = count / (time.perf_counter() - start)
    result["test_videos"] = count
    return result


def time_train_step() -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from kinetics_i3d import preprocessing
    from kinetics_i3d.models import InceptionI3d

    out = {}
    for modality in ("rgb", "flow"):
        model = InceptionI3d(num_classes=400, modality=modality)
        optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
        size = preprocessing.CROP_SIZE
        x = tf.random.uniform([1, 64, size, size, model.input_channels], -1.0, 1.0)
        y = tf.constant([3])

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                    y, logits, from_logits=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        step(x, y).numpy()
        times = []
        for _ in range(FLAGS.train_steps):
            start = time.perf_counter()
            step(x, y).numpy()
            times.append(time.perf_counter() - start)
        out[f"{modality}_train_step_s"] = float(np.median(times))
    out["two_stream_clips_per_s"] = 1.0 / (out["rgb_train_step_s"] + out["flow_train_step_s"])
    out["rgb_only_clips_per_s"] = 1.0 / out["rgb_train_step_s"]
    return out


def main(argv):
    del argv
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    videos_dir = FLAGS.videos_dir or os.path.join(os.path.dirname(repo), "shared", "fixtures",
                                                  "videos")
    workdir = FLAGS.workdir or tempfile.mkdtemp(prefix="benchmark_input_")
    os.makedirs(workdir, exist_ok=True)
    try:
        build_shards(workdir, videos_dir)
        from kinetics_i3d import machine

        results = {
            "machine": machine.machine_info(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "num_videos": FLAGS.num_videos, "num_shards": FLAGS.num_shards,
            "frames_per_video": FLAGS.frames_per_video, "batch_size": FLAGS.batch_size,
        }
        results.update(time_pipeline(os.path.join(workdir, "bench-*.tfrecord")))
    finally:
        if FLAGS.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if FLAGS.train_steps > 0:
        try:
            results.update(time_train_step())
        except ImportError as err:
            results["train_step"] = f"missing: {err}"
    if "two_stream_clips_per_s" in results:
        results["pipeline_over_train_step"] = (results["train_clips_per_s"]
                                               / results["two_stream_clips_per_s"])
    results["load_avg_end"] = list(os.getloadavg())
    print(f"machine: {machine.describe(results['machine'])}")
    print(f"{'CPUs (usable)':34s} {results['cpus_usable']}")
    for key in ("train_clips_per_s", "test_videos_per_s", "rgb_train_step_s", "flow_train_step_s",
                "two_stream_clips_per_s", "rgb_only_clips_per_s", "pipeline_over_train_step"):
        if key in results:
            print(f"{key:34s} {results[key]:.3f}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    cli.run(main)
