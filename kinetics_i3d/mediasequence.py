"""The one place that names the on-disk format: MediaPipe MediaSequence keys and flow encoding.

Shards written by `kinetics_i3d.ingest` and shards written by MediaPipe's Kinetics pipeline
(`mediapipe/util/sequence/media_sequence.py`) use these same `tf.train.SequenceExample` keys, so
one reader (`kinetics_i3d.data`) consumes both.

Context features (`tf.train.Features`):
  clip/media_id            bytes   source video id (e.g. YouTube id)
  clip/label/index         int64   class index (a list; we write one)
  clip/label/string        bytes   class name
  clip/start/timestamp     int64   clip start in the source, microseconds
  clip/end/timestamp       int64   clip end in the source, microseconds
  clip/label/map_sha256    bytes   ours, not MediaPipe's: hex SHA-256 of the label map that
                                   `clip/label/index` indexes (`kinetics_i3d.labels.label_map_hash`
                                   of its names in order); absent in MediaPipe's shards
  image/format             bytes   b"JPEG"
  image/height, image/width int64  stored RGB frame size
  image/frame_rate         float   frames per second of the stored frames
  FORWARD_FLOW/image/format, .../height, .../width, .../frame_rate: the same for flow

Sequence features (`tf.train.FeatureLists`):
  image/encoded                 one JPEG per RGB frame
  image/timestamp               int64 microseconds, one per RGB frame
  FORWARD_FLOW/image/encoded    one 3-channel image per flow frame (R = x, G = y, B = 0)
  FORWARD_FLOW/image/timestamp  int64 microseconds, one per flow frame
"""
from __future__ import annotations

import numpy as np

from kinetics_i3d import preprocessing

# Context keys.
CLIP_MEDIA_ID = "clip/media_id"
CLIP_LABEL_INDEX = "clip/label/index"
CLIP_LABEL_STRING = "clip/label/string"
CLIP_START_TIMESTAMP = "clip/start/timestamp"
CLIP_END_TIMESTAMP = "clip/end/timestamp"
# Our own key (MediaSequence style): which label map the index refers to (see the docstring).
CLIP_LABEL_MAP_SHA256 = "clip/label/map_sha256"

IMAGE_PREFIX = "image"
FLOW_PREFIX = "FORWARD_FLOW/image"


def _keys(prefix: str) -> dict[str, str]:
    return {
        "encoded": f"{prefix}/encoded",
        "timestamp": f"{prefix}/timestamp",
        "format": f"{prefix}/format",
        "height": f"{prefix}/height",
        "width": f"{prefix}/width",
        "frame_rate": f"{prefix}/frame_rate",
    }


IMAGE = _keys(IMAGE_PREFIX)
FLOW = _keys(FLOW_PREFIX)

IMAGE_ENCODED = IMAGE["encoded"]
IMAGE_TIMESTAMP = IMAGE["timestamp"]
IMAGE_FORMAT = IMAGE["format"]
IMAGE_HEIGHT = IMAGE["height"]
IMAGE_WIDTH = IMAGE["width"]
IMAGE_FRAME_RATE = IMAGE["frame_rate"]
FLOW_ENCODED = FLOW["encoded"]
FLOW_TIMESTAMP = FLOW["timestamp"]
FLOW_FORMAT = FLOW["format"]

# Flow quantisation (paper sec. 2.5 / DeepMind release README: TV-L1 values truncated to
# [-20, 20], then rescaled to [-1, 1]). Stored as uint8(clip((v + B) / (2B), 0, 1) * 255).
FLOW_BOUND = preprocessing.FLOW_BOUND
# uint8 value of zero flow: decoding is `q / FLOW_UINT8_MID - 1` to [-1, 1] (numpy here, TF ops in
# `kinetics_i3d.data.processors.flow_to_unit`).
FLOW_UINT8_MID = 255 / 2  # the storage format's midpoint, not the RGB scaling


def encode_flow_uint8(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Quantise flow `[..., H, W, 2]` float (pixels) to a 3-channel `uint8` image `[..., H, W, 3]`.

    R = x (horizontal), G = y (vertical), B = 0.
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.shape[-1] != 2:
        raise ValueError(f"flow must have 2 channels in its last axis, got shape {flow.shape}")
    q = np.round(np.clip((flow + bound) / (2.0 * bound), 0.0, 1.0) * 255.0).astype(np.uint8)
    zeros = np.zeros(q.shape[:-1] + (1,), dtype=np.uint8)
    return np.concatenate([q, zeros], axis=-1)


def decode_flow_unit(image: np.ndarray) -> np.ndarray:
    """Inverse of `encode_flow_uint8`, to the network's range: `[..., 3]` uint8 -> `[..., 2]` in [-1, 1]."""
    image = np.asarray(image)
    return image[..., :2].astype(np.float32) / FLOW_UINT8_MID - 1.0


def decode_flow_pixels(image: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Inverse of `encode_flow_uint8` in pixels: `[..., 3]` uint8 -> `[..., 2]` in [-bound, bound]."""
    return decode_flow_unit(image) * bound
