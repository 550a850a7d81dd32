"""The release's sample evaluation (evaluate_sample.py): a one-video evaluation.

`evaluate(eval_type, labels, rgb_checkpoint, flow_checkpoint, rgb_input, flow_input)` restores
DeepMind's checkpoints (`kinetics_i3d.serve.streams.load_stream`) and runs the video through
evaluation's whole-video predictor (`kinetics_i3d.serve.evaluate.whole_video_predictions`:
`ChunkedI3D` per stream, the streams fused by `kinetics_i3d.fusion.fuse_logits`), returning
logits, softmax and the top classes; `format_report` prints them exactly as the release does
("Norm of logits: X", then "prob logit label" lines).

`ChunkedI3D` equals the paper's single pass over all frames within float32 rounding, with memory
bounded by one chunk (`chunk_steps`) whatever the video's length (a single pass over 1988 frames
at 224 px crashed at 11.8 GiB RSS, issue #14).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d import preprocessing
from kinetics_i3d.errors import UserError
from kinetics_i3d.models.i3d import MIN_FRAMES
from kinetics_i3d.modalities import get_modality
from kinetics_i3d.serve import evaluate as evaluate_
from kinetics_i3d.serve import streams
from kinetics_i3d.serve.chunked import DEFAULT_CHUNK_STEPS, ChunkedI3D
from kinetics_i3d.serve.metrics import resolve_top_k

# Classes the release's evaluate_sample.py prints (its `for index in sorted_indices[:20]`).
DEFAULT_TOP_K = 20
# The release's eval types: which streams run (rgb600: the Kinetics-600 RGB checkpoint).
EVAL_TYPES = {
    "rgb": ("rgb",),
    "rgb600": ("rgb",),
    "flow": ("flow",),
    "joint": ("rgb", "flow"),
}


@dataclasses.dataclass
class SampleResult:
    logits: np.ndarray  # [num_classes]
    probabilities: np.ndarray  # [num_classes]
    labels: list[str]

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.logits))

    def top(self, k: int | None = None) -> list[tuple[float, float, str]]:
        """The `k` most probable classes (None: the release's 20, or the class count if fewer)
        as (probability, logit, name); a UserError for k outside [1, class count]."""
        k = resolve_top_k(k, len(self.labels), default=DEFAULT_TOP_K)
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(self.probabilities[i], self.logits[i], self.labels[i]) for i in order]

    def to_json(self, k: int | None = None) -> dict:
        return {
            "logits": [float(v) for v in self.logits],
            "norm": self.norm,
            "top": [[float(p), float(l), name] for p, l, name in self.top(k)],
        }


def load_gif_rgb(path: str) -> np.ndarray:
    """The release's RGB sample as a GIF (its repository's `v_CricketShot_g04_c01_rgb.gif`:
    224x224 frames at 25 fps whose value is (x + 1) / 2 of the `.npy` input x) ->
    `[1, T, H, W, 3]` float32 in [-1, 1]. Frames are used as stored: no resize, no crop."""
    from kinetics_i3d.ingest.video import VideoDecodeError, read_video

    try:
        frames = read_video(path, fps=preprocessing.FRAME_RATE, short_side=None).rgb
    except VideoDecodeError as e:
        raise UserError(f"cannot read the RGB GIF {path!r}: {e}") from None
    return preprocessing.rgb_to_unit(frames[None])


def load_input(path: str, modality: str) -> np.ndarray:
    """Loads a preprocessed `.npy` input and checks its shape and range.

    Returns `[1, T, 224, 224, C]` (C = 3 rgb, 2 flow) in [-1, 1]: a `.npy` is memory-mapped
    read-only (not read into memory: `evaluate` streams it one chunk at a time), in the file's
    float dtype. An RGB `.gif` (the release's sample in image form) is read by `load_gif_rgb`.

    Raises:
      UserError: unreadable file, wrong shape, or values outside [-1, 1] (the message says the
        range found and how to convert, e.g. `x / 127.5 - 1` for uint8 RGB); a flow `.gif`.
    """
    channels = get_modality(modality).channels
    size = preprocessing.CROP_SIZE
    if path.lower().endswith(".gif"):
        if modality != "rgb":
            raise UserError(f"{modality} input {path!r}: only RGB inputs can be GIFs (the "
                            "release's flow GIF is a visualisation, not the network input)")
        return load_gif_rgb(path)
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {modality} input {path!r} as .npy: {e}") from None
    if array.ndim != 5 or array.shape[0] != 1 or array.shape[2:] != (size, size, channels):
        raise UserError(
            f"{modality} input {path!r} has shape {list(array.shape)}; expected "
            f"[1, T, {size}, {size}, {channels}]"
        )
    # One read of the (memory-mapped, possibly long) file for the range and the warning.
    found = preprocessing.check_unit_range(array, f"{modality} input {path!r}", modality)
    if modality == "rgb" and found and found[0] >= 0.0:  # in range, but likely RGB in [0, 1]
        logging.warning("rgb input %r: values in [%.4g, %.4g], none negative; if it is RGB in "
                        "[0, 1], convert with x * 2 - 1", path, *found)
    return array


def evaluate(
    eval_type: str,
    labels: list[str],
    rgb_checkpoint: str | None = None,
    flow_checkpoint: str | None = None,
    rgb_input=None,
    flow_input=None,
    chunk_steps: int = DEFAULT_CHUNK_STEPS,
) -> SampleResult:
    """The release's sample: one video through evaluation's whole-video predictor
    (`evaluate.whole_video_predictions`: `ChunkedI3D` per stream, `fusion.fuse_logits`: `joint`
    adds the two streams' logits before the softmax), streams restored by `streams.load_stream`.

    `rgb_input` / `flow_input`: arrays `[1, T, 224, 224, C]` in [-1, 1] (e.g. `load_input`'s
    memory map) or `(iterable of T frames [H, W, C], T)` pairs (e.g. frames streamed from a video
    file, `kinetics_i3d.serve.features.file_items`); never copied whole (`chunk_steps` Mixed_5c
    steps = 8 * chunk_steps frames kept per chunk).
    Raises `UserError` for fewer than 9 frames (the release does not loop) or a checkpoint whose
    class count is not the label map's.
    """
    if eval_type not in EVAL_TYPES:
        raise ValueError(f"eval_type must be one of {sorted(EVAL_TYPES)}, got {eval_type!r}")
    given = {"rgb": (rgb_checkpoint, rgb_input), "flow": (flow_checkpoint, flow_input)}
    frames = {}
    for modality in EVAL_TYPES[eval_type]:
        checkpoint, inputs = given[modality]
        if checkpoint is None or inputs is None:
            raise ValueError(f"eval_type {eval_type!r} needs a {modality} checkpoint and input")
        if not isinstance(inputs, tuple):
            if np.ndim(inputs) != 5 or inputs.shape[0] != 1:
                raise ValueError(f"expected {modality} input [1, T, H, W, C], got shape "
                                 f"{list(np.shape(inputs))}")
            inputs = inputs[0]  # a memory map stays one
        frames[modality] = inputs
        num_frames = evaluate_.stream_frames(inputs)[1]
        if num_frames < MIN_FRAMES:
            raise UserError(f"{modality} input has {num_frames} frames; I3D's Logits need at "
                            f"least {MIN_FRAMES}")
    models = streams.load_streams({m: given[m][0] for m in frames}, len(labels))
    runners = {m: ChunkedI3D(model, chunk_steps=chunk_steps) for m, model in models.items()}
    (prediction,) = evaluate_.whole_video_predictions(
        [evaluate_.TestVideo("sample", None, frames)], runners)
    # float32 as the release's session outputs, so the printout has its digits (0.9477566).
    logits = np.asarray(prediction.logits, np.float32)
    probabilities = tf.nn.softmax(logits).numpy()
    return SampleResult(logits=logits, probabilities=probabilities, labels=labels)


def format_report(result: SampleResult, k: int | None = None) -> str:
    """The release's printout: `Norm of logits: %f`, a blank line, the header, `k` lines."""
    lines = [f"Norm of logits: {result.norm:f}", "", "Top classes and probabilities"]
    # str() of the float32 values, as the release's print(p, l, name): format() would widen
    # them to float64 digits (0.2755722105503082 for 0.2755722).
    lines += [f"{p!s} {l!s} {name}" for p, l, name in result.top(k)]
    return "\n".join(lines)
