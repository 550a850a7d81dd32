"""The temporal interface of every model of the paper (Table 1), in one table.

A *snapshot* is what one forward pass of a model sees: `rgb_offsets` and `flow_offsets` are frame
offsets relative to the snapshot start, in frames of the stored 25 fps stream. Training takes one
snapshot at a random start; testing takes `num_snapshots` snapshots (evenly spaced over the video,
or every `snapshot_stride` frames), or the whole video for the fully convolutional I3D.
Offsets past the end of a short video loop back to its start (paper sec. 2.5).

Flow frame t is the TV-L1 flow from RGB frame t to t + 1 (`kinetics_i3d.ingest.sequence`), so the
flow offsets below say which motion a snapshot sees.

Keys are the model registry's names (`kinetics_i3d.models.build(name, ...)`).
"""
from __future__ import annotations

import dataclasses
import math

from kinetics_i3d.preprocessing import CROP_SIZE, SHORT_SIDE


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How one split (train or test) of one model samples frames, and the layout it returns.

    rgb_offsets / flow_offsets: frame offsets of one snapshot; empty when the stream is unused.
    num_snapshots: snapshots per example (train: 1).
    snapshot_stride: frames between snapshot starts; None spaces them evenly over the video.
    whole_video: take every frame (or the first `max_test_frames`), one snapshot, offsets unused.
    rgb_layout / flow_layout: leading dims of the example's frames, the model's input layout
      (e.g. (25, 10): 25 flow snippets of 10 frames); their product is num_snapshots * offsets.
      None: one flat time axis.
    """

    rgb_offsets: tuple[int, ...] = ()
    flow_offsets: tuple[int, ...] = ()
    num_snapshots: int = 1
    snapshot_stride: int | None = None
    whole_video: bool = False
    rgb_layout: tuple[int, ...] | None = None
    flow_layout: tuple[int, ...] | None = None

    def __post_init__(self):
        for name, layout, count in (("rgb_layout", self.rgb_layout, self.num_rgb),
                                    ("flow_layout", self.flow_layout, self.num_flow)):
            if layout is not None and math.prod(layout) != count:
                raise ValueError(f"{name}={layout} does not hold {count} frames "
                                 f"({self.num_snapshots} snapshot(s))")

    @property
    def footprint(self) -> int:
        """Frames spanned by one snapshot (max offset + 1)."""
        return max(self.rgb_offsets + self.flow_offsets, default=-1) + 1

    @property
    def num_rgb(self) -> int:
        return self.num_snapshots * len(self.rgb_offsets)

    @property
    def num_flow(self) -> int:
        return self.num_snapshots * len(self.flow_offsets)


@dataclasses.dataclass(frozen=True)
class TemporalInterface:
    """One model's input interface.

    modalities: streams the model reads ("rgb", "flow").
    crop_size: square crop side in pixels, taken after resizing the short side to `short_side`.
    train / test: the `Sampling` of each split.
    """

    name: str
    modalities: tuple[str, ...]
    crop_size: int
    short_side: int
    train: Sampling
    test: Sampling

    def sampling(self, split: str) -> Sampling:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self.train if split == "train" else self.test


def _range(n: int, step: int = 1, start: int = 0) -> tuple[int, ...]:
    return tuple(range(start, start + n * step, step))


_I3D = dict(
    modalities=("rgb", "flow"), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
    train=Sampling(rgb_offsets=_range(64), flow_offsets=_range(64)),
    test=Sampling(whole_video=True))

INTERFACES: dict[str, TemporalInterface] = {
    # I3D (sec. 2.4, Table 1): 64 consecutive rgb + 64 flow frames (2.56 s) to train; the whole
    # video (Kinetics: 250 frames, 10 s) at test, predictions averaged over time. Layout
    # [T, H, W, C] per stream. Each stream is its own network (`modalities=("rgb",)` or
    # ("flow",) to read one); "two_stream_i3d" is the joint model over both.
    "i3d": TemporalInterface("i3d", **_I3D),
    "two_stream_i3d": TemporalInterface("two_stream_i3d", **_I3D),
    # ConvNet+LSTM (sec. 2.1, Table 1): one frame in five of the 25 fps stream; 25 rgb (5 s) to
    # train, 50 rgb (10 s) at test, from the start of the video. Layout [T, H, W, 3].
    "convnet_lstm": TemporalInterface(
        "convnet_lstm", ("rgb",), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
        train=Sampling(rgb_offsets=_range(25, step=5)),
        test=Sampling(rgb_offsets=_range(50, step=5))),
    # C3D-like 3D ConvNet (sec. 2.2, Table 1): 16 consecutive rgb frames, 112x112 crops "as in the
    # original implementation" (C3D resizes to 128x171: we resize the short side to 128). Test:
    # 240 rgb (9.6 s) as 15 back-to-back 16-frame clips, layout [15, 16, H, W, 3].
    "c3d": TemporalInterface(
        "c3d", ("rgb",), crop_size=112, short_side=128,
        train=Sampling(rgb_offsets=_range(16)),
        test=Sampling(rgb_offsets=_range(16), num_snapshots=15, snapshot_stride=16,
                      rgb_layout=(15, 16))),
    # Two-Stream (sec. 2.3, Table 1): 1 rgb frame + a stack of 10 flow frames starting at it
    # (Simonyan & Zisserman's stack: flow t..t+9, 0.4 s). Test: 25 evenly spaced snapshots,
    # 25 rgb + 250 flow. Layout: rgb [S, H, W, 3], flow [S, 10, H, W, 2] (S = 1 / 25).
    "two_stream": TemporalInterface(
        "two_stream", ("rgb", "flow"), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
        train=Sampling(rgb_offsets=(0,), flow_offsets=_range(10), rgb_layout=(1,),
                       flow_layout=(1, 10)),
        test=Sampling(rgb_offsets=(0,), flow_offsets=_range(10), num_snapshots=25,
                      rgb_layout=(25,), flow_layout=(25, 10))),
    # 3D-Fused Two-Stream (sec. 2.3, Table 1): rgb frames 10 apart, each with the 10-frame flow
    # snippet around it (our choice: centred, flow t-5..t+4 for rgb frame t). Train: 5 rgb + 50
    # flow (2 s); test: the same pattern over 10 s, 25 rgb + 250 flow, one pass of the fused
    # 3D layers over all 25 positions. Layout: rgb [T, H, W, 3], flow [T, 10, H, W, 2].
    "fused_two_stream": TemporalInterface(
        "fused_two_stream", ("rgb", "flow"), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
        train=Sampling(rgb_offsets=_range(5, step=10, start=5), flow_offsets=_range(50),
                       flow_layout=(5, 10)),
        test=Sampling(rgb_offsets=_range(25, step=10, start=5), flow_offsets=_range(250),
                      flow_layout=(25, 10))),
}

def names() -> list[str]:
    return sorted(INTERFACES)


def get_interface(name: str) -> TemporalInterface:
    """The `TemporalInterface` of model `name` (a key of `INTERFACES`)."""
    try:
        return INTERFACES[name]
    except KeyError:
        raise ValueError(f"unknown temporal interface {name!r}; known: {names()}") from None
