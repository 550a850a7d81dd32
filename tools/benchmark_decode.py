"""Decode speed (PyAV decoder vs OpenCV) and streaming memory of kinetics_i3d.ingest.video.

  python tools/benchmark_decode.py                            # fixture clips; 1, 5, 10 min
  python tools/benchmark_decode.py --minutes=1,10 --output_json=/tmp/decode.json

Speed: every frame of each clip decoded and converted to RGB at its source size, by the
project's decoder (`decode_frames`, PyAV) and by OpenCV's FFmpeg backend (`cv2.VideoCapture`
read + BGR->RGB, the decoder the project used before), alternating in the same run; best of
`--repeats`, frames/s. Both decode single-stream; PyAV with FFmpeg's automatic threading.

Memory: a long video (`--size` px square, 25 fps, MPEG-4 Part 2) is generated once per length;
a fresh process streams it through `VideoFrames` (25 fps, short side `--size`), touching every
image, and reports the peak RSS above its baseline after imports (`/proc/self/clear_refs` resets
the peak). Flat across lengths means bounded memory; the whole 10-min video as uint8 would take
15000 x size^2 x 3 bytes (176 MiB at 64 px).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads
from kinetics_i3d import machine as machine_lib  # noqa: E402

from absl import flags

FLAGS = flags.FLAGS
_SHARED = Path(__file__).resolve().parents[1].parent / "shared"
flags.DEFINE_string("videos_dir", str(Path(os.environ.get("KINETICS_I3D_SHARED", _SHARED)) /
                                      "fixtures" / "videos"), "Folder of clips to decode.")
flags.DEFINE_list("minutes", ["1", "5", "10"], "Lengths of the generated long video.")
flags.DEFINE_integer("size", 64, "Side of the generated long video, pixels.")
flags.DEFINE_integer("repeats", 3, "Timed decodes per clip and decoder (best is reported).")
flags.DEFINE_string("output_json", None, "Write the results here.")
flags.DEFINE_string("child", None, "Internal: stream this file and print peak memory as JSON.")

FPS = 25


def _decode_pyav(path: str) -> int:
    from kinetics_i3d.ingest import video

    return sum(1 for frame in video.decode_frames(path) if frame.image is not None)


def _decode_opencv(path: str) -> int:
    import cv2

    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    count = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        count += 1
    capture.release()
    return count


def _speed(videos_dir: str) -> list[dict]:
    rows = []
    for name in sorted(os.listdir(videos_dir)):
        path = os.path.join(videos_dir, name)
        if not name.endswith((".mp4", ".avi", ".mkv", ".webm", ".mov")):
            continue
        best = {"pyav": float("inf"), "opencv": float("inf")}
        frames = {}
        for _ in range(FLAGS.repeats):
            for decoder, fn in (("pyav", _decode_pyav), ("opencv", _decode_opencv)):
                start = time.perf_counter()
                frames[decoder] = fn(path)
                best[decoder] = min(best[decoder], time.perf_counter() - start)
        rows.append({"clip": name, "frames_pyav": frames["pyav"],
                     "frames_opencv": frames["opencv"],
                     "pyav_fps": frames["pyav"] / best["pyav"],
                     "opencv_fps": frames["opencv"] / best["opencv"]})
    return rows


def _write_long_video(path: str, minutes: float, size: int) -> None:
    import av
    import numpy as np

    count = int(round(minutes * 60 * FPS))
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        ramp = np.arange(size, dtype=np.uint8)
        for i in range(count):
            image = np.empty((size, size, 3), np.uint8)
            image[...] = ((ramp[None, :] + 3 * i) % 256)[..., None]  # moving stripes
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _child(path: str) -> dict:
    from kinetics_i3d.ingest import video

    frames = video.VideoFrames(path, fps=FPS, short_side=FLAGS.size)
    baseline = machine_lib.rss_mib("VmRSS")
    if not machine_lib.reset_peak_rss():
        raise RuntimeError("/proc/self/clear_refs refused: cannot measure the peak from here")
    start = time.perf_counter()
    count = sum(1 for image in frames if image.size)
    seconds = time.perf_counter() - start
    return {"frames": count, "baseline_mib": baseline,
            "peak_above_baseline_mib": machine_lib.rss_mib("VmHWM") - baseline, "seconds": seconds}


def main(argv):
    del argv
    if FLAGS.child:
        print(json.dumps(_child(FLAGS.child)))
        return
    results = {"machine": machine_lib.cpu_line(), "speed": _speed(FLAGS.videos_dir), "memory": []}
    print(f"# decode speed, {results['machine']}")
    print(f"{'clip':<24}{'frames':>8}{'PyAV f/s':>10}{'OpenCV f/s':>12}{'ratio':>7}")
    for row in results["speed"]:
        print(f"{row['clip']:<24}{row['frames_pyav']:>8}{row['pyav_fps']:>10.0f}"
              f"{row['opencv_fps']:>12.0f}{row['pyav_fps'] / row['opencv_fps']:>7.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in FLAGS.minutes:
            path = os.path.join(tmp, f"long_{minutes}min.mp4")
            _write_long_video(path, float(minutes), FLAGS.size)
            out = subprocess.run([sys.executable, __file__, f"--child={path}",
                                  f"--size={FLAGS.size}"], check=True, capture_output=True,
                                 text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row.update(minutes=float(minutes), file_mib=os.path.getsize(path) / 2**20,
                       whole_video_mib=row["frames"] * FLAGS.size ** 2 * 3 / 2**20)
            results["memory"].append(row)
    print(f"\n# streaming memory, {FLAGS.size} px, 25 fps (VideoFrames)")
    print(f"{'minutes':>8}{'frames':>8}{'peak MiB':>10}{'whole MiB':>11}{'frames/s':>10}")
    for row in results["memory"]:
        print(f"{row['minutes']:>8.0f}{row['frames']:>8}{row['peak_above_baseline_mib']:>10.1f}"
              f"{row['whole_video_mib']:>11.0f}{row['frames'] / row['seconds']:>10.0f}")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results))


if __name__ == "__main__":
    cli.run(main)
