"""One `ModelSpec` per registered architecture: the one table of what each model *is*.

Everything the trainer, the input pipeline, config validation, evaluation, export and the tools
need to know about a model lives in its entry of `SPECS` (a plain dict, registry name -> spec):

- how to build it (`model_class`, imported on first use so this module loads no TensorFlow;
  every class exposes `classifier_layers()` and, where it has them, `imagenet_towers`);
- its temporal interface (Table 1: `TemporalInterface`, the frames one snapshot sees in training
  and at test) and the streams it reads (`streams()`: I3D the one `--modality` picks, the others
  their interface's); a batch becomes its inputs by one rule (`model_inputs`);
- its training loss (`LOSS_LAST`; ConvNet+LSTM `LOSS_ALL_STEPS`, sec. 2.1);
- its test-time prediction (`PREDICT_WHOLE_VIDEO`: I3D, the exact chunked whole-video pass of
  `kinetics_i3d.serve.chunked`; `PREDICT_SNAPSHOTS`: the baselines, one forward pass over their
  interface's test snapshots);
- which checkpoint sources can initialise it (`init_sources`) and whether its weights have
  DeepMind's released layout (`released_layout`).

Nothing else switches on a model name: adding an architecture is one `SPECS` entry plus its
model class (BUILD_NOTES.md, "Adding a model").

A *snapshot* is what one forward pass of a model sees: `rgb_offsets` and `flow_offsets` are frame
offsets relative to the snapshot start, in frames of the stored 25 fps stream. Training takes one
snapshot at a random start; testing takes `num_snapshots` snapshots (evenly spaced over the video,
or every `snapshot_stride` frames), or the whole video for the fully convolutional I3D.
Offsets past the end of a short video loop back to its start (paper sec. 2.5). Flow frame t is
the TV-L1 flow from RGB frame t to t + 1 (`kinetics_i3d.ingest.sequence`), so the flow offsets
say which motion a snapshot sees.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping

from kinetics_i3d.modalities import MODALITIES
from kinetics_i3d.preprocessing import CROP_SIZE, SHORT_SIDE

# Training losses.
LOSS_LAST = "last"  # softmax cross-entropy of model(inputs) [B, K]
# ConvNet+LSTM (sec. 2.1): "cross-entropy losses on the outputs at all time steps", averaged over
# the steps of model(inputs, return_sequences=True) [B, T, K]; accuracy from the last step.
LOSS_ALL_STEPS = "all_steps"
# Test-time predictions.
# Whole-video prediction is I3D's exact chunked pass (kinetics_i3d.serve.chunked.ChunkedI3D runs
# one InceptionI3d per stream), and the SavedModel export serves the same streams: a
# PREDICT_WHOLE_VIDEO model must expose `stream_networks()` -> {modality: InceptionI3d}
# (kinetics_i3d.serve.streams.stream_networks; a one-line UserError otherwise).
PREDICT_WHOLE_VIDEO = "whole_video"  # every frame, chunked exactly (kinetics_i3d.serve.chunked)
PREDICT_SNAPSHOTS = "snapshots"  # model(inputs) over the interface's test snapshots
# Checkpoint sources that can initialise a model (--init_checkpoint).
INIT_RUN = "run"  # a trainer checkpoint of the same architecture (kinetics_i3d.checkpoints.run)
INIT_RELEASED = "released"  # DeepMind's released layout (kinetics_i3d.checkpoints.released)
INIT_IMAGENET = "imagenet"  # TF-slim Inception-v1 into every tower of `model.imagenet_towers`


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


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One registered architecture. See the module docstring for what each field drives.

    name: the registry name (`--model`), also the interface's.
    model_class: "module:Class" of the Keras model; built as `Class(num_classes=K, **options)`.
    paper: where the paper defines it.
    interface: Table 1's temporal interface; None for a network that is not a video model
      (Inception-v1, the baselines' 2D ImageNet tower: built, never trained or evaluated alone).
    modality_flag: `--modality` picks the one stream it reads (single-stream I3D); otherwise it
      reads all of `interface.modalities`.
    options: `TrainConfig` fields passed to the class besides `num_classes` (the trainer's
      `model_options`); "modality" only with `modality_flag`.
    training_loss: `LOSS_LAST` or `LOSS_ALL_STEPS`.
    test_prediction: `PREDICT_WHOLE_VIDEO` (the class has `stream_networks()` of InceptionI3d
      networks; the only models the SavedModel export serves) or `PREDICT_SNAPSHOTS`.
    init_sources: `INIT_*` kinds `--init_checkpoint` may name for it.
    released_layout: its weights read and write DeepMind's checkpoint layout: evaluation and
      export take release-layout checkpoints.
    released_export: the trainer also writes the run in that layout,
      `<model_dir>/released/model.ckpt` (`kinetics_i3d.checkpoints.init`), what a fine-tuning
      run's `--init_checkpoint` (INIT_RELEASED) takes. One stream per checkpoint, as the release:
      single-stream I3D only (Two-Stream I3D's streams are trained as two `--model=i3d` runs).
      A model without it is evaluated and exported from its trainer run's `--model_dir`
      (`kinetics_i3d.cli.WEIGHT_SOURCE_RULES`).
    consecutive_frames: its training clip is consecutive frames, so `--num_frames` may set the
      clip length (I3D: 64 by default).
    crop_sizes: the `--crop_size` range (px, inclusive) the class can take, or None for any:
      I3D's Logits pool Mixed_5c (ceil(S / 32) px) 7x7 VALID to one position, so 193 to 224;
      C3D's fc6 is built for its 112 px crops.
    stream_logits: the class has `stream_logits(inputs, training)` -> `{stream: [B, K], "joint":
      [B, K]}` (each stream's logits beside the model's), which evaluation reports per stream.
    """

    name: str
    model_class: str
    paper: str
    interface: TemporalInterface | None
    modality_flag: bool = False
    options: tuple[str, ...] = ("dropout_rate", "sync_batch_norm")
    training_loss: str = LOSS_LAST
    test_prediction: str = PREDICT_SNAPSHOTS
    init_sources: tuple[str, ...] = (INIT_RUN,)
    released_layout: bool = False
    released_export: bool = False
    consecutive_frames: bool = False
    stream_logits: bool = False
    crop_sizes: tuple[int, int] | None = None

    def __post_init__(self):
        if self.training_loss not in (LOSS_LAST, LOSS_ALL_STEPS):
            raise ValueError(f"{self.name}: unknown training_loss {self.training_loss!r}")
        if self.test_prediction not in (PREDICT_WHOLE_VIDEO, PREDICT_SNAPSHOTS):
            raise ValueError(f"{self.name}: unknown test_prediction {self.test_prediction!r}")
        unknown = set(self.init_sources) - {INIT_RUN, INIT_RELEASED, INIT_IMAGENET}
        if unknown:
            raise ValueError(f"{self.name}: unknown init_sources {sorted(unknown)}")
        if self.interface is not None:
            whole = self.test_prediction == PREDICT_WHOLE_VIDEO
            if whole != self.interface.test.whole_video:
                raise ValueError(f"{self.name}: test_prediction {self.test_prediction!r} does not "
                                 f"match its interface's test sampling")
        if self.released_export and not (self.released_layout
                                         and INIT_RELEASED in self.init_sources):
            raise ValueError(f"{self.name}: released_export needs released_layout and "
                             f"INIT_RELEASED in init_sources")
        if ("modality" in self.options) != self.modality_flag:
            raise ValueError(f"{self.name}: 'modality' must be in options iff modality_flag")

    def check_crop_size(self, size: int, flag: str = "--crop_size") -> None:
        """Raises ValueError naming `flag` when the class cannot take `size` px crops
        (`crop_sizes`, inclusive; 0 means the interface's own and always passes)."""
        if size and self.crop_sizes and not self.crop_sizes[0] <= size <= self.crop_sizes[1]:
            low, high = self.crop_sizes
            takes = f"{low} px" if low == high else f"{low} to {high} px"
            raise ValueError(f"{flag}={size}: --model={self.name} takes {takes} crops")

    @property
    def is_video_model(self) -> bool:
        """Trainable and evaluable on videos (it has a temporal interface)."""
        return self.interface is not None

    def streams(self, modality: str = "rgb") -> tuple[str, ...]:
        """The streams the model reads: `(modality,)` with `modality_flag`, else the interface's."""
        if self.modality_flag:
            if modality not in MODALITIES:
                raise ValueError(f"modality must be one of {sorted(MODALITIES)}, got {modality!r}")
            return (modality,)
        if self.interface is None:
            raise ValueError(f"{self.name} is not a video model: it has no streams")
        return self.interface.modalities

    def release_streams(self) -> tuple[str, ...]:
        """The streams whose release-layout checkpoints (one per stream, as the release) the
        model needs: every stream it reads; () with `modality_flag` (any one, or both, each its
        own single-stream model)."""
        return () if self.modality_flag else self.streams()

    def model_class_object(self):
        """The Keras model class (imports it, and so TensorFlow, on first use)."""
        module, _, attr = self.model_class.partition(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, num_classes: int, **options):
        """`Class(num_classes=num_classes, **options)`: the architecture, freshly initialised."""
        return self.model_class_object()(num_classes=num_classes, **options)


def model_inputs(frames: Mapping[str, object], streams: tuple[str, ...]):
    """What a model takes from per-stream frame tensors `{modality: [B, ...]}`: the one tensor
    of a single-stream model, a dict `{modality: tensor}` for a model over several streams
    (every registered class follows this rule)."""
    missing = [s for s in streams if s not in frames]
    if missing:
        raise ValueError(f"no {missing[0]} frames for a model reading {list(streams)}")
    if len(streams) == 1:
        return frames[streams[0]]
    return {s: frames[s] for s in streams}


_I3D_INTERFACE = dict(
    modalities=("rgb", "flow"), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
    train=Sampling(rgb_offsets=_range(64), flow_offsets=_range(64)),
    test=Sampling(whole_video=True))

SPECS: dict[str, ModelSpec] = {
    # I3D (sec. 2.4, Table 1): 64 consecutive rgb or flow frames (2.56 s) to train; the whole
    # video (Kinetics: 250 frames, 10 s) at test, predictions averaged over time. Layout
    # [T, H, W, C]. One stream per network, picked by --modality.
    "i3d": ModelSpec(
        "i3d", "kinetics_i3d.models.i3d:InceptionI3d", "sec. 2.4, Fig. 3",
        TemporalInterface("i3d", **_I3D_INTERFACE),
        modality_flag=True, options=("dropout_rate", "sync_batch_norm", "modality"),
        test_prediction=PREDICT_WHOLE_VIDEO, init_sources=(INIT_RUN, INIT_RELEASED),
        released_layout=True, released_export=True, consecutive_frames=True,
        crop_sizes=(193, 224)),
    # Two-Stream I3D (sec. 2.4, Fig. 2e): both I3D streams in one model, logits summed (the
    # release's eval_type=joint). Streams "rgb" and "flow", [T, H, W, C] each. A released
    # checkpoint holds one stream, so --init_checkpoint takes only a run of this model.
    "two_stream_i3d": ModelSpec(
        "two_stream_i3d", "kinetics_i3d.models.baselines:TwoStreamI3D", "sec. 2.4, Fig. 2e",
        TemporalInterface("two_stream_i3d", **_I3D_INTERFACE),
        test_prediction=PREDICT_WHOLE_VIDEO, init_sources=(INIT_RUN,),
        released_layout=True, consecutive_frames=True, stream_logits=True,
        crop_sizes=(193, 224)),
    # ConvNet+LSTM (sec. 2.1, Table 1): one frame in five of the 25 fps stream; 25 rgb (5 s) to
    # train, 50 rgb (10 s) at test, from the start of the video. Layout [T, H, W, 3]. Loss at
    # every step.
    "convnet_lstm": ModelSpec(
        "convnet_lstm", "kinetics_i3d.models.baselines:ConvNetLSTM", "sec. 2.1, Fig. 2a",
        TemporalInterface(
            "convnet_lstm", ("rgb",), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
            train=Sampling(rgb_offsets=_range(25, step=5)),
            test=Sampling(rgb_offsets=_range(50, step=5))),
        training_loss=LOSS_ALL_STEPS, init_sources=(INIT_RUN, INIT_IMAGENET)),
    # C3D-like 3D ConvNet (sec. 2.2, Table 1): 16 consecutive rgb frames, 112x112 crops "as in
    # the original implementation" (C3D resizes to 128x171: we resize the short side to 128).
    # Test: 240 rgb (9.6 s) as 15 back-to-back 16-frame clips, layout [15, 16, H, W, 3].
    "c3d": ModelSpec(
        "c3d", "kinetics_i3d.models.baselines:C3D", "sec. 2.2, Fig. 2b",
        TemporalInterface(
            "c3d", ("rgb",), crop_size=112, short_side=128,
            train=Sampling(rgb_offsets=_range(16)),
            test=Sampling(rgb_offsets=_range(16), num_snapshots=15, snapshot_stride=16,
                          rgb_layout=(15, 16))),
        crop_sizes=(112, 112)),
    # Two-Stream (sec. 2.3, Table 1): 1 rgb frame + a stack of 10 flow frames starting at it
    # (Simonyan & Zisserman's stack: flow t..t+9, 0.4 s). Test: 25 evenly spaced snapshots,
    # 25 rgb + 250 flow. Layout: rgb [S, H, W, 3], flow [S, 10, H, W, 2] (S = 1 / 25).
    "two_stream": ModelSpec(
        "two_stream", "kinetics_i3d.models.baselines:TwoStream2D", "sec. 2.3, Fig. 2c",
        TemporalInterface(
            "two_stream", ("rgb", "flow"), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
            train=Sampling(rgb_offsets=(0,), flow_offsets=_range(10), rgb_layout=(1,),
                           flow_layout=(1, 10)),
            test=Sampling(rgb_offsets=(0,), flow_offsets=_range(10), num_snapshots=25,
                          rgb_layout=(25,), flow_layout=(25, 10))),
        init_sources=(INIT_RUN, INIT_IMAGENET), stream_logits=True),
    # 3D-Fused Two-Stream (sec. 2.3, Table 1): rgb frames 10 apart, each with the 10-frame flow
    # snippet around it (our choice: centred, flow t-5..t+4 for rgb frame t). Train: 5 rgb + 50
    # flow (2 s); test: the same pattern over 10 s, 25 rgb + 250 flow, one pass of the fused
    # 3D layers over all 25 positions. Layout: rgb [T, H, W, 3], flow [T, 10, H, W, 2].
    "fused_two_stream": ModelSpec(
        "fused_two_stream", "kinetics_i3d.models.baselines:Fused3DTwoStream",
        "sec. 2.3, Fig. 2d",
        TemporalInterface(
            "fused_two_stream", ("rgb", "flow"), crop_size=CROP_SIZE, short_side=SHORT_SIDE,
            train=Sampling(rgb_offsets=_range(5, step=10, start=5), flow_offsets=_range(50),
                           flow_layout=(5, 10)),
            test=Sampling(rgb_offsets=_range(25, step=10, start=5), flow_offsets=_range(250),
                          flow_layout=(25, 10))),
        init_sources=(INIT_RUN, INIT_IMAGENET)),
    # Inception-v1 (with BN), the 2D ImageNet network every baseline but C3D uses as its tower
    # and the source of I3D's inflation (sec. 2.4): an image model, no temporal interface.
    "inception_v1": ModelSpec(
        "inception_v1", "kinetics_i3d.models.inception_v1:InceptionV1", "sec. 2.4 (2D source)",
        None, init_sources=(INIT_IMAGENET,)),
}


def names() -> list[str]:
    """Every registered architecture."""
    return sorted(SPECS)


def video_names() -> list[str]:
    """The architectures with a temporal interface (what `--model` of training and evaluation
    takes)."""
    return sorted(n for n, s in SPECS.items() if s.is_video_model)


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of `name`; a ValueError listing the registered names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {names()}") from None


def get_interface(name: str) -> TemporalInterface:
    """The `TemporalInterface` of video model `name` (Table 1)."""
    spec = SPECS.get(name)
    if spec is None or spec.interface is None:
        raise ValueError(f"unknown temporal interface {name!r}; known: {video_names()}")
    return spec.interface
