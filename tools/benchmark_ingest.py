"""Benchmark video ingest: decode, TV-L1 per pair, RGB-only vs RGB+flow builds, 1 vs 2 workers,
and the codec measurement behind the storage choices (RGB JPEG quality, flow PNG vs JPEG).

  python tools/benchmark_ingest.py --output_json=/tmp/ingest.json

Build timings are wall clock for `kinetics_i3d.ingest.shards.build_dataset` over `--copies`
cuts of one real clip (one shard each), including worker start-up (spawned processes import
TensorFlow). Default run: about 1-3 minutes on 2 idle cores.
"""
import json
import os
import tempfile
import time
from pathlib import Path

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags
import cv2
import numpy as np

from kinetics_i3d import machine
from kinetics_i3d import mediasequence as ms
from kinetics_i3d import preprocessing
from kinetics_i3d.ingest import flow as flow_lib
from kinetics_i3d.ingest import sequence
from kinetics_i3d.ingest import shards
from kinetics_i3d.ingest import video as video_lib
from kinetics_i3d.ingest.manifests import VideoEntry

_DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "videos" / "cup.mp4"

_VIDEO = flags.DEFINE_string("video", str(_DEFAULT_VIDEO), "A real clip.")
_SHORT_SIDE = flags.DEFINE_integer("short_side", preprocessing.SHORT_SIDE,
                                   "Frame short side (release: 256).")
_CLIP_SECONDS = flags.DEFINE_float("clip_seconds", 0.5, "Length of each cut for RGB+flow builds.")
_COPIES = flags.DEFINE_integer("copies", 4, "Cuts (= shards) per build.")
_WORKERS = flags.DEFINE_list("workers", ["1", "2"], "Worker counts to compare.")
_TVL1_PAIRS = flags.DEFINE_integer("tvl1_pairs", 4, "Pairs timed for the per-pair TV-L1 figure.")
_CODEC_VIDEOS = flags.DEFINE_list(
    "codec_videos", [str(_DEFAULT_VIDEO.parent / n) for n in
                     ("bikes.mp4", "box.mp4", "cup.mp4", "carphone_pristine.mp4")],
    "Clips whose TV-L1 flow (and frames) feed the codec measurement.")
_CODEC_PAIRS = flags.DEFINE_integer("codec_pairs_per_video", 3, "Flow pairs per codec clip.")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Write the figures here.")


def _time_tvl1(gray: np.ndarray, pairs: list[int], threads: int) -> tuple[float, list]:
    cv2.setNumThreads(threads)
    flows, start = [], time.perf_counter()
    for t in pairs:
        flows.append(flow_lib.opencv_tvl1_pair(gray[t], gray[t + 1]))
    return (time.perf_counter() - start) / len(pairs), flows


def _codec_figures(rgb: list[np.ndarray], flows: list[np.ndarray]) -> dict:
    """Bytes per frame and round-trip error for RGB JPEG qualities and flow codecs."""
    out = {"rgb_jpeg": {}, "flow": {}}
    for q in (75, 85, 90, 95):
        sizes, errs, psnr = [], [], []
        for frame in rgb:
            data = sequence.encode_jpeg(frame, q)
            diff = sequence.decode_image(data).astype(np.float64) - frame
            sizes.append(len(data))
            errs.append(np.abs(diff).mean())
            psnr.append(10 * np.log10(255.0 ** 2 / max((diff ** 2).mean(), 1e-12)))
        out["rgb_jpeg"][q] = {"kib_per_frame": np.mean(sizes) / 1024,
                              "mean_abs_err": float(np.mean(errs)), "psnr_db": float(np.mean(psnr))}
    truth = [np.clip(f, -ms.FLOW_BOUND, ms.FLOW_BOUND) for f in flows]
    images = [ms.encode_flow_uint8(f) for f in truth]
    # The writer uses 4:4:4 for flow JPEGs; "_420" shows what chroma subsampling would cost.
    for codec in ("png", "jpeg90", "jpeg95", "jpeg100", "jpeg95_420"):
        sizes, errs = [], []
        for image, ref in zip(images, truth):
            data = (sequence.encode_png(image) if codec == "png"
                    else sequence.encode_jpeg(image, int(codec[4:].split("_")[0]),
                                              chroma_444=not codec.endswith("_420")))
            decoded = ms.decode_flow_pixels(sequence.decode_image(data))
            sizes.append(len(data))
            errs.append(np.abs(decoded - ref).ravel())
        errs = np.concatenate(errs)
        out["flow"][codec] = {"kib_per_frame": np.mean(sizes) / 1024,
                              "mean_abs_err_px": float(errs.mean()),
                              "p99_abs_err_px": float(np.percentile(errs, 99)),
                              "max_abs_err_px": float(errs.max())}
    return out


def _build(entries, options, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = shards.build_dataset(entries, tmp, name="bench", num_shards=len(entries),
                                       options=options, num_workers=workers,
                                       progress_interval=60.0)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "frames": summary.num_frames,
            "frames_per_s": summary.num_frames / seconds,
            "videos_per_s": summary.num_written / seconds}


def main(argv):
    del argv
    cpus = os.cpu_count()
    results = {"video": _VIDEO.value}
    start = time.perf_counter()
    clip = video_lib.read_video(_VIDEO.value, short_side=_SHORT_SIDE.value)
    decode_s = time.perf_counter() - start
    num = clip.rgb.shape[0]
    results["decode_resize_frames_per_s"] = num / decode_s
    results["frame_hw"] = list(clip.rgb.shape[1:3])
    gray = flow_lib.rgb_to_gray(clip.rgb)
    pairs = np.linspace(0, num - 2, _TVL1_PAIRS.value).astype(int).tolist()
    results["tvl1_s_per_pair_1_thread"], _ = _time_tvl1(gray, pairs, 1)
    results["tvl1_s_per_pair_all_threads"], flows = _time_tvl1(gray, pairs, cpus)
    codec_rgb, codec_flows = [], []
    for path in _CODEC_VIDEOS.value:
        other = video_lib.read_video(path, short_side=_SHORT_SIDE.value)
        other_gray = flow_lib.rgb_to_gray(other.rgb)
        for t in np.linspace(0, len(other_gray) - 2, _CODEC_PAIRS.value).astype(int):
            codec_flows.append(flow_lib.opencv_tvl1_pair(other_gray[t], other_gray[t + 1]))
            codec_rgb.append(other.rgb[t])
    results["codecs"] = _codec_figures(codec_rgb or list(clip.rgb[:4]), codec_flows or flows)

    full = [VideoEntry(_VIDEO.value, f"full{i}") for i in range(_COPIES.value)]
    cut = [VideoEntry(_VIDEO.value, f"cut{i}", start_s=i * _CLIP_SECONDS.value,
                      end_s=(i + 1) * _CLIP_SECONDS.value) for i in range(_COPIES.value)]
    builds = {}
    for mode, entries, options in (
            ("rgb", full, shards.IngestOptions(short_side=_SHORT_SIDE.value, flow=False)),
            ("rgb+flow", cut, shards.IngestOptions(short_side=_SHORT_SIDE.value))):
        for workers in map(int, _WORKERS.value):
            builds[f"{mode} x{workers}"] = _build(entries, options, workers)
    results["builds"] = builds
    w = sorted(map(int, _WORKERS.value))
    # Start-up of the worker pool alone: a build whose videos are all missing (fails at once).
    startup = {}
    for workers in w:
        nothing = [VideoEntry(os.path.join(tempfile.gettempdir(), f"absent-{i}.mp4"), f"a{i}")
                   for i in range(workers)]
        startup[workers] = _build(nothing, shards.IngestOptions(flow=False), workers)["seconds"]
    results["pool_startup_s"] = startup
    if len(w) > 1:
        t1 = builds[f"rgb+flow x{w[0]}"]["seconds"]
        tn = builds[f"rgb+flow x{w[-1]}"]["seconds"]
        results["flow_speedup"] = t1 / tn
        results["flow_speedup_excluding_startup"] = ((t1 - startup[w[0]])
                                                     / (tn - startup[w[-1]]))

    results["machine"] = machine.machine_info()
    results["machine"]["cv2"] = cv2.__version__
    print(f"\nmachine: {machine.describe(results['machine'])}; cv2 {cv2.__version__}")
    print(f"Ingest benchmark, {Path(_VIDEO.value).name} at "
          f"{results['frame_hw'][0]}x{results['frame_hw'][1]}")
    print(f"  decode+resize: {results['decode_resize_frames_per_s']:.0f} frames/s")
    print(f"  TV-L1 per pair: {results['tvl1_s_per_pair_1_thread']:.3f} s (1 thread), "
          f"{results['tvl1_s_per_pair_all_threads']:.3f} s ({cpus} threads)")
    print(f"  {'build':<14}{'seconds':>9}{'frames':>8}{'frames/s':>10}{'videos/s':>10}")
    for name, b in builds.items():
        print(f"  {name:<14}{b['seconds']:9.1f}{b['frames']:8d}{b['frames_per_s']:10.1f}"
              f"{b['videos_per_s']:10.2f}")
    if "flow_speedup" in results:
        print("  worker pool start-up: " + ", ".join(
            f"{k} workers {v:.1f} s" for k, v in results["pool_startup_s"].items()))
        print(f"  RGB+flow speed-up {w[0]} -> {w[-1]} workers: {results['flow_speedup']:.2f}x "
              f"({results['flow_speedup_excluding_startup']:.2f}x excluding pool start-up)")
    print("  RGB JPEG: quality  KiB/frame  mean|err|  PSNR")
    for q, r in results["codecs"]["rgb_jpeg"].items():
        print(f"            {q:7d}  {r['kib_per_frame']:9.1f}  {r['mean_abs_err']:9.2f}  "
              f"{r['psnr_db']:5.1f}")
    print("  flow:      codec  KiB/frame  mean|err| px  p99 px  max px")
    for c, r in results["codecs"]["flow"].items():
        print(f"       {c:>10}  {r['kib_per_frame']:9.1f}  {r['mean_abs_err_px']:12.3f}  "
              f"{r['p99_abs_err_px']:6.3f}  {r['max_abs_err_px']:6.3f}")
    if _OUTPUT_JSON.value:
        with open(_OUTPUT_JSON.value, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    cli.run(main)
