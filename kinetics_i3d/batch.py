"""Keys of the batches `kinetics_i3d.data.make_dataset` yields: their one home.

As `kinetics_i3d.mediasequence` names the keys on disk, this module names the keys of the
in-memory batch dict that `data/` writes and `train/` and `serve/` read. No TensorFlow import.

Per batch (B videos):
  MEDIA_ID        string `[B]` (the record's clip/media_id; "" when absent)
  LABEL           int32 `[B]` class index (-1: unlabelled)
  LABEL_ONE_HOT   float32 `[B, num_classes]`
  LABEL_STRING    string `[B]`
  NUM_FRAMES      int32 `[B]`: frames stored in the record (RGB's count)
  frames_key(m)   the modality's frames, float32 `[B, ..., H, W, C]` in [-1, 1] (key: `m`)
  num_frames_key(m)  int32 `[B]`: frames of modality `m` used (test/whole-video batches)
  mask_key(m)     bool `[B, T]`: which of the padded frames of `m` are real (whole-video batches)
"""
MEDIA_ID = "media_id"
LABEL = "label"
LABEL_ONE_HOT = "label_one_hot"
LABEL_STRING = "label_string"
NUM_FRAMES = "num_frames"


def frames_key(modality: str) -> str:
    """Frames of `modality` ("rgb" / "flow"): the modality's name itself."""
    return modality


def num_frames_key(modality: str) -> str:
    return f"{modality}_num_frames"


def mask_key(modality: str) -> str:
    return f"{modality}_mask"
