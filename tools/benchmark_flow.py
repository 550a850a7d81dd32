r"""TV-L1 flow throughput: OpenCV on CPU vs the TensorFlow solver, and how closely they agree.

Measures pairs/s at --width x --height (default 341x256, the release's 256-pixel short side) for
  * OpenCV `DualTVL1OpticalFlow` with 1 thread, with all threads, and in N processes of 1 thread;
  * `kinetics_i3d.ingest.tvl1_tf.tvl1_flow` on the default TF device, per batch size, as a TF
    graph and with XLA (`jit_compile=True`); the first call (trace / compile) is timed apart;
and the agreement between the TF flow and OpenCV's on the same real frame pairs (mean end-point
error, per-component correlation). Prints one table and writes it as JSON with --output_json.

  python tools/benchmark_flow.py --output_json=/tmp/flow_bench.json
  python tools/benchmark_flow.py --tf_batch_sizes=8,16,32,64,128   # GPU sweep (default on GPU)
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import flags, logging
import cv2
import numpy as np

from kinetics_i3d import machine
from kinetics_i3d.ingest import flow as flow_lib
from kinetics_i3d import preprocessing
from kinetics_i3d.ingest import video

_DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared/fixtures/videos/cup.mp4"

_VIDEO = flags.DEFINE_string("video", str(_DEFAULT_VIDEO), "Clip the frame pairs come from.")
_START_FRAME = flags.DEFINE_integer("start_frame", 100, "First frame of the first pair.")
_NUM_PAIRS = flags.DEFINE_integer(
    "num_pairs", 8, "Distinct consecutive frame pairs decoded (tiled to fill larger batches).")
_WIDTH = flags.DEFINE_integer("width", 341, "Frame width the pairs are resized to.")
_HEIGHT = flags.DEFINE_integer("height", preprocessing.SHORT_SIDE,
                               "Frame height the pairs are resized to.")
_PROCESSES = flags.DEFINE_integer(
    "opencv_processes", os.cpu_count() or 1, "Processes for the OpenCV multi-process row.")
_TF_BATCH_SIZES = flags.DEFINE_list(
    "tf_batch_sizes", None, "Batch sizes for the TF solver; default 8 on CPU, 8,16,32,64,128 on "
    "GPU.")
_JIT = flags.DEFINE_list("jit", ["off", "on"], "TF solver modes: off (graph), on (XLA).")
_REPEATS = flags.DEFINE_integer("repeats", 1, "Timed calls per TF setting after the first one.")
_SKIP_OPENCV = flags.DEFINE_bool("skip_opencv_speed", False,
                                 "Skip OpenCV speed rows (its flow is still computed once).")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Where to write the results as JSON.")

_PAIRS: list[tuple[np.ndarray, np.ndarray]] = []  # the frame pairs, set in each process


def _decode_pairs(path: str, start: int, count: int, size: tuple[int, int]) -> np.ndarray:
    """uint8 [count + 1, H, W] grayscale frames start .. start + count of `path`, resized."""
    frames = []
    try:
        for frame in video.decode_frames(path):
            if frame.index >= start:
                gray = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
                frames.append(cv2.resize(gray, size, interpolation=cv2.INTER_AREA))
            if len(frames) == count + 1:
                return np.stack(frames)
    except video.VideoDecodeError as e:
        raise ValueError(f"--video={path}: {e.reason}: {e.detail}") from None
    raise ValueError(f"--video={path} has {start + len(frames)} frames; --start_frame={start} "
                     f"and --num_pairs={count} need {start + count + 1}")


def _machine(gpus: list[str]) -> tuple[str, dict]:
    """(one-line description, `machine.machine_info()` plus memory and GPUs) of this machine."""
    info = machine.machine_info()
    try:
        info["memory_gib"] = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                                   / 2**30)
    except (ValueError, OSError):
        info["memory_gib"] = None
    info["gpus"] = gpus
    gpu = ", ".join(gpus) if gpus else "no GPU"
    return f"{machine.describe(info)}; {info['memory_gib']} GiB, {gpu}", info


def _opencv_pair(index: int) -> np.ndarray:
    prev, nxt = _PAIRS[index % len(_PAIRS)]
    return flow_lib.opencv_tvl1_pair(prev, nxt)  # the solver ingest uses


def _init_worker(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    cv2.setNumThreads(1)
    _PAIRS[:] = pairs


def _time_opencv(threads: int) -> tuple[float, np.ndarray]:
    cv2.setNumThreads(threads)
    start = time.perf_counter()
    flows = np.stack([_opencv_pair(i) for i in range(len(_PAIRS))])
    return len(_PAIRS) / (time.perf_counter() - start), flows


def _time_opencv_processes(processes: int) -> float:
    jobs = max(len(_PAIRS), 2 * processes)
    # spawn, not fork: a child forked from a process whose OpenCV thread pool has run can
    # deadlock in cv2.setNumThreads.
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(list(_PAIRS),)) as pool:
        pool.map(_init_worker_ready, range(processes))  # start the workers before timing
        start = time.perf_counter()
        pool.map(_opencv_pair, range(jobs))
        return jobs / (time.perf_counter() - start)


def _init_worker_ready(_: int) -> int:
    return os.getpid()


def main(argv: list[str]) -> None:
    del argv
    frames = _decode_pairs(_VIDEO.value, _START_FRAME.value, _NUM_PAIRS.value,
                           (_WIDTH.value, _HEIGHT.value))
    _PAIRS.extend(zip(frames[:-1], frames[1:]))
    size = f"{_WIDTH.value}x{_HEIGHT.value}"
    rows = []
    threads = os.cpu_count() or 1
    if _SKIP_OPENCV.value:
        cv2.setNumThreads(threads)
        reference = np.stack([_opencv_pair(i) for i in range(len(_PAIRS))])
    else:
        logging.info("OpenCV, 1 thread, %d pairs", len(_PAIRS))
        rate, reference = _time_opencv(1)
        rows.append({"backend": "opencv", "mode": "1 thread", "batch": 1, "pairs_per_s": rate})
        logging.info("OpenCV, %d threads", threads)
        rate, _ = _time_opencv(threads)
        rows.append({"backend": "opencv", "mode": f"{threads} threads", "batch": 1,
                     "pairs_per_s": rate})
        logging.info("OpenCV, %d processes", _PROCESSES.value)
        rate = _time_opencv_processes(_PROCESSES.value)
        rows.append({"backend": "opencv", "mode": f"{_PROCESSES.value} processes x 1 thread",
                     "batch": 1, "pairs_per_s": rate})

    # TensorFlow only now: the OpenCV rows run without its thread pools competing.
    import tensorflow as tf
    from kinetics_i3d.ingest import tvl1_tf

    gpus = [tf.config.experimental.get_device_details(d).get("device_name", d.name)
            for d in tf.config.list_physical_devices("GPU")]
    machine_line, machine_info = _machine(gpus)

    device = "GPU" if gpus else "CPU"
    batch_sizes = [int(b) for b in (_TF_BATCH_SIZES.value or
                                    (["8", "16", "32", "64", "128"] if gpus else ["8"]))]
    prev_all = np.stack([p for p, _ in _PAIRS]).astype(np.float32)
    next_all = np.stack([n for _, n in _PAIRS]).astype(np.float32)
    agreement = None
    for jit in _JIT.value:
        if jit not in ("on", "off"):
            raise ValueError(f"--jit entries must be 'on' or 'off'; got {jit!r}")
        for batch in batch_sizes:
            take = np.arange(batch) % len(_PAIRS)
            prev, nxt = tf.constant(prev_all[take]), tf.constant(next_all[take])
            mode = f"{device}, {'XLA' if jit == 'on' else 'graph'}"
            logging.info("TF solver, %s, batch %d", mode, batch)
            start = time.perf_counter()
            flow = tvl1_tf.tvl1_flow(prev, nxt, jit_compile=jit == "on").numpy()
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(_REPEATS.value):
                tvl1_tf.tvl1_flow(prev, nxt, jit_compile=jit == "on").numpy()
            seconds = (time.perf_counter() - start) / _REPEATS.value
            rows.append({"backend": "tf", "mode": mode, "batch": batch,
                         "pairs_per_s": batch / seconds, "first_call_s": first_s})
            if agreement is None:
                count = min(batch, len(_PAIRS))
                agreement = tvl1_tf.flow_agreement(reference[:count], flow[:count])
                agreement["pairs"] = count

    print(f"TV-L1 flow at {size}; machine: {machine_line}")
    print(f"{'backend':8} {'mode':28} {'batch':>5} {'pairs/s':>9} {'s/pair':>8} {'1st call s':>10}")
    for row in rows:
        first = f"{row['first_call_s']:10.1f}" if "first_call_s" in row else f"{'':10}"
        print(f"{row['backend']:8} {row['mode']:28} {row['batch']:5d} {row['pairs_per_s']:9.3f} "
              f"{1.0 / row['pairs_per_s']:8.3f} {first}")
    if agreement:
        print(f"TF vs OpenCV on {agreement['pairs']} pairs of {Path(_VIDEO.value).name} "
              f"(frames {_START_FRAME.value}+): mean EPE {agreement['epe']:.4f} px, "
              f"corr x {agreement['corr_x']:.5f}, corr y {agreement['corr_y']:.5f}, "
              f"mean |flow| {agreement['reference_magnitude']:.3f} px")
    if _OUTPUT_JSON.value:
        result = {"size": size, "machine": machine_info, "video": _VIDEO.value,
                  "start_frame": _START_FRAME.value, "rows": rows, "agreement": agreement}
        Path(_OUTPUT_JSON.value).write_text(json.dumps(result, indent=2))
        logging.info("wrote %s", _OUTPUT_JSON.value)


if __name__ == "__main__":
    cli.run(main)
