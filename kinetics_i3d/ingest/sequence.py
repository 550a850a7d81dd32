"""Write and read one video as a `tf.train.SequenceExample` in the MediaSequence format.

The keys and the flow quantisation are defined once, in `kinetics_i3d.mediasequence`; this module
only fills them in. Layout (timestamps in microseconds of the source video):

  context   clip/media_id, clip/label/index, clip/label/string, clip/label/map_sha256,
            clip/start/timestamp,
            clip/end/timestamp, image/{format,height,width,frame_rate},
            FORWARD_FLOW/image/{format,height,width,frame_rate}
  sequence  image/encoded (one JPEG per RGB frame), image/timestamp,
            FORWARD_FLOW/image/encoded (one 3-channel PNG or JPEG per flow frame: R = x, G = y,
            B = 0, `uint8(round(clip((v + 20) / 40, 0, 1) * 255))`), FORWARD_FLOW/image/timestamp

Flow frame t is the forward flow from RGB frame t to RGB frame t + 1, so a clip of T RGB frames has
T - 1 flow frames (no padding), and flow frame t carries RGB frame t's timestamp.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from kinetics_i3d import mediasequence as ms

# RGB JPEG quality; chosen by measurement (BUILD_NOTES.md "## Ingest").
DEFAULT_JPEG_QUALITY = 90
# Quality used for flow when flow_format="jpeg" (PNG, the default, is lossless).
DEFAULT_FLOW_JPEG_QUALITY = 95
FLOW_FORMATS = ("png", "jpeg")


def _bytes_feature(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int_feature(values: list[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _float_feature(values: list[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def encode_jpeg(image_rgb: np.ndarray, quality: int, chroma_444: bool = False) -> bytes:
    """JPEG-encode one `[H, W, 3]` uint8 RGB image (baseline; chroma 4:2:0 unless `chroma_444`).

    Flow images use 4:4:4: x and y sit in R and G, so halving the chroma resolution smears motion
    boundaries (max error 5.7 px vs 2.2 px at quality 95, BUILD_NOTES.md "## Ingest").
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if chroma_444:
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"cv2.imencode failed for a JPEG of shape {image_rgb.shape}")
    return buf.tobytes()


def encode_png(image_rgb: np.ndarray) -> bytes:
    """PNG-encode one `[H, W, 3]` uint8 RGB image (lossless)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError(f"cv2.imencode failed for a PNG of shape {image_rgb.shape}")
    return buf.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """Decode a JPEG or PNG to `[H, W, 3]` uint8 RGB."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"could not decode an image of {len(data)} bytes")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def frame_timestamps_us(num_frames: int, fps: float, start_us: int = 0) -> np.ndarray:
    """Timestamps `[num_frames]` int64 microseconds of frames sampled at `fps` from `start_us`."""
    return start_us + np.round(np.arange(num_frames) * (1e6 / fps)).astype(np.int64)


def make_sequence_example(
    rgb: np.ndarray | None,
    flow: np.ndarray | None,
    *,
    fps: float,
    label_index: int | None,
    label_string: str | None,
    media_id: str,
    start_us: int = 0,
    end_us: int | None = None,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    flow_format: str = "png",
    flow_jpeg_quality: int = DEFAULT_FLOW_JPEG_QUALITY,
    flow_bound: float = ms.FLOW_BOUND,
    label_map_sha256: str | None = None,
) -> tf.train.SequenceExample:
    """Build the MediaSequence `SequenceExample` of one clip.

    Args:
      rgb: `[T, H, W, 3]` uint8 RGB frames sampled at `fps`, or None to store no RGB.
      flow: `[T - 1, H, W, 2]` float32 forward flow in pixels (x then y), or None to store no
        flow. Values are truncated to [-flow_bound, flow_bound] and quantised to uint8.
      fps: frame rate of the stored frames (both streams).
      label_index: class index, or None for unlabelled data (no label features written).
      label_string: class name, or None.
      media_id: source video id (e.g. the YouTube id), stored as `clip/media_id`.
      start_us: time of the first frame in the source video, microseconds.
      end_us: clip end in the source, microseconds; default `start_us + T / fps`.
      jpeg_quality: RGB JPEG quality (1-100).
      flow_format: "png" (lossless beyond the uint8 quantisation, <= 0.078 px; default) or
        "jpeg" (quality `flow_jpeg_quality`, 4:4:4; ~4x smaller, mean error 0.077 px vs 0.051 px).
      flow_jpeg_quality: JPEG quality for flow when `flow_format="jpeg"`.
      flow_bound: truncation bound in pixels (release: 20).
      label_map_sha256: `kinetics_i3d.labels.label_map_hash` of the label map `label_index`
        indexes, stored as `clip/label/map_sha256` (with a label only).

    Returns:
      The `tf.train.SequenceExample`; `.SerializeToString()` gives the TFRecord payload.
    """
    if rgb is None and flow is None:
        raise ValueError(f"media_id={media_id!r}: rgb and flow are both None; nothing to store")
    if flow_format not in FLOW_FORMATS:
        raise ValueError(f"flow_format must be one of {FLOW_FORMATS}, got {flow_format!r}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise ValueError(f"rgb must be uint8 [T, H, W, 3], got {rgb.dtype} {rgb.shape}")
    if flow is not None:
        flow = np.asarray(flow, dtype=np.float32)
        if flow.ndim != 4 or flow.shape[-1] != 2:
            raise ValueError(f"flow must be float32 [T-1, H, W, 2], got {flow.shape}")
        if rgb is not None and (flow.shape[0] != rgb.shape[0] - 1
                                or flow.shape[1:3] != rgb.shape[1:3]):
            raise ValueError(f"flow shape {flow.shape} does not match rgb shape {rgb.shape}: "
                             "expected [T-1, H, W, 2]")
    num_frames = rgb.shape[0] if rgb is not None else flow.shape[0] + 1
    if end_us is None:
        end_us = start_us + int(round(num_frames * 1e6 / fps))

    context: dict[str, tf.train.Feature] = {
        ms.CLIP_MEDIA_ID: _bytes_feature([media_id.encode("utf-8")]),
        ms.CLIP_START_TIMESTAMP: _int_feature([int(start_us)]),
        ms.CLIP_END_TIMESTAMP: _int_feature([int(end_us)]),
    }
    if label_index is not None:
        context[ms.CLIP_LABEL_INDEX] = _int_feature([int(label_index)])
    if label_string is not None:
        context[ms.CLIP_LABEL_STRING] = _bytes_feature([label_string.encode("utf-8")])
    if label_map_sha256 is not None and label_index is not None:
        context[ms.CLIP_LABEL_MAP_SHA256] = _bytes_feature([label_map_sha256.encode("ascii")])
    feature_lists: dict[str, tf.train.FeatureList] = {}
    timestamps = frame_timestamps_us(num_frames, fps, start_us)

    def add_stream(keys: dict[str, str], image_format: str, frames: np.ndarray,
                   encoded: list[bytes], stamps: np.ndarray) -> None:
        context[keys["format"]] = _bytes_feature([image_format.encode()])
        context[keys["height"]] = _int_feature([frames.shape[1]])
        context[keys["width"]] = _int_feature([frames.shape[2]])
        context[keys["frame_rate"]] = _float_feature([float(fps)])
        feature_lists[keys["encoded"]] = tf.train.FeatureList(
            feature=[_bytes_feature([e]) for e in encoded])
        feature_lists[keys["timestamp"]] = tf.train.FeatureList(
            feature=[_int_feature([int(t)]) for t in stamps])

    if rgb is not None:
        add_stream(ms.IMAGE, "JPEG", rgb, [encode_jpeg(f, jpeg_quality) for f in rgb], timestamps)
    if flow is not None:
        images = ms.encode_flow_uint8(flow, bound=flow_bound)
        if flow_format == "png":
            encoded = [encode_png(f) for f in images]
        else:
            encoded = [encode_jpeg(f, flow_jpeg_quality, chroma_444=True) for f in images]
        add_stream(ms.FLOW, flow_format.upper(), flow, encoded, timestamps[:-1])
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=feature_lists))


def parse_sequence_example(serialized: bytes, flow_bound: float = ms.FLOW_BOUND) -> dict[str, Any]:
    """Parse a serialized MediaSequence `SequenceExample` into numpy arrays (for tests and tools).

    Returns a dict with:
      rgb: `[T, H, W, 3]` uint8 or None; rgb_timestamps: `[T]` int64 us or None;
      flow: `[T - 1, H, W, 2]` float32 pixels in [-flow_bound, flow_bound] or None;
      flow_timestamps: `[T - 1]` int64 us or None; flow_format: "png"/"jpeg" or None;
      fps: float; label_index: int or None; label_string: str or None;
      label_map_sha256: str or None; media_id: str; start_us, end_us: int.
    """
    example = tf.train.SequenceExample.FromString(serialized)
    ctx = example.context.feature
    lists = example.feature_lists.feature_list

    def first(key: str, kind: str, default: Any = None) -> Any:
        if key not in ctx:
            return default
        values = getattr(ctx[key], kind).value
        return values[0] if len(values) else default

    def stream(keys: dict[str, str]) -> tuple[list[bytes], np.ndarray] | None:
        if keys["encoded"] not in lists:
            return None
        encoded = [f.bytes_list.value[0] for f in lists[keys["encoded"]].feature]
        stamps = np.array([f.int64_list.value[0] for f in lists[keys["timestamp"]].feature],
                          dtype=np.int64)
        return encoded, stamps

    out: dict[str, Any] = {
        "media_id": first(ms.CLIP_MEDIA_ID, "bytes_list", b"").decode("utf-8"),
        "label_index": first(ms.CLIP_LABEL_INDEX, "int64_list"),
        "label_string": None,
        "label_map_sha256": first(ms.CLIP_LABEL_MAP_SHA256, "bytes_list", b"").decode() or None,
        "start_us": first(ms.CLIP_START_TIMESTAMP, "int64_list"),
        "end_us": first(ms.CLIP_END_TIMESTAMP, "int64_list"),
        "fps": first(ms.IMAGE_FRAME_RATE, "float_list") or first(ms.FLOW["frame_rate"],
                                                                 "float_list"),
        "rgb": None, "rgb_timestamps": None,
        "flow": None, "flow_timestamps": None, "flow_format": None,
    }
    label = first(ms.CLIP_LABEL_STRING, "bytes_list")
    if label is not None:
        out["label_string"] = label.decode("utf-8")
    rgb = stream(ms.IMAGE)
    if rgb is not None:
        out["rgb"] = np.stack([decode_image(e) for e in rgb[0]]) if rgb[0] else None
        out["rgb_timestamps"] = rgb[1]
    flow = stream(ms.FLOW)
    if flow is not None:
        out["flow_format"] = first(ms.FLOW_FORMAT, "bytes_list", b"").decode().lower() or None
        if flow[0]:
            out["flow"] = ms.decode_flow_pixels(np.stack([decode_image(e) for e in flow[0]]),
                                                bound=flow_bound)
        out["flow_timestamps"] = flow[1]
    return out
