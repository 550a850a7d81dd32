"""SavedModel export for serving: raw frames in, the release's preprocessing in the graph.

Signatures (inputs depend on the exported streams: `rgb`, `flow`, or both for two-stream):

* `serving_default`: `rgb` uint8 `[B, T, H, W, 3]` (any T >= 9, any H, W) and/or `flow` float32
  `[B, T', H', W', 2]` (TV-L1 displacements in pixels of the frames they were computed on).
  Preprocessing in the graph (`kinetics_i3d.preprocessing.network_input_rgb_tf` / `_flow_tf`): resize short side 256 bilinear,
  224 centre crop, scale to [-1, 1] (flow: rescale with the resize, clip [-20, 20], / 20).
  Returns `logits` `[B, K]` (two-stream: the sum of the streams' logits, as the release),
  `probabilities` `[B, K]` (softmax), `top_k_indices` int32 `[B, k]`, `top_k_probabilities`
  `[B, k]`, `top_k_classes` string `[B, k]`.
* `features`: the same inputs; per stream `<stream>_mixed_5c_pooled` `[B, 1024]` (mean over T',
  H', W') and `<stream>_mixed_5c_time` `[B, T', 1024]` (mean over H', W'), taken on the 224 crop.
* `logits_preprocessed`: `rgb` / `flow` float32 already preprocessed `[B, T, 224, 224, C]` in
  [-1, 1] -> `logits`; for callers with their own pipeline and for checking the export. Input
  outside [-1, 1] (`kinetics_i3d.preprocessing.RANGE_TOLERANCE`) fails with InvalidArgumentError
  naming the range found and how to convert (`x / 127.5 - 1` for uint8 RGB).

Which models it serves is read from their spec (`served_spec`): the `PREDICT_WHOLE_VIDEO` ones
(I3D from release-layout checkpoints; Two-Stream I3D from both streams' or from its trainer
`--model_dir`, `export_model`), never a baseline (their test interface is fixed snapshots).

Two-stream inputs must cover the same frames: `rgb` T frames, `flow` T - 1 (TV-L1 gives one flow
frame per pair of RGB frames), T or T + 1 (not rejected); any larger difference (e.g. RGB 16 and
flow 9 frames) is an `InvalidArgumentError` whose message names both lengths, in every signature.

One pass over the whole input (the paper's test interface), so every signature rejects a request
of more than `MAX_FRAMES` frames (batch x time, per stream) with InvalidArgumentError naming the
count and the limit, instead of running out of memory (one pass over 1988 frames at 224 px
crashed at 11.8 GiB RSS). Longer videos: `tools/evaluate_sample.py`, `tools/evaluate.py` or
feature extraction (`kinetics_i3d.serve.chunked`, exact and bounded), or send windows of at
most `MAX_FRAMES` frames. Why a limit and not chunking in the graph: BUILD_NOTES.md, "Long
videos".
"""
from __future__ import annotations

import types
from collections.abc import Mapping, Sequence

import tensorflow as tf
from absl import logging

from kinetics_i3d import fusion, preprocessing, specs
from kinetics_i3d.errors import UserError
from kinetics_i3d.preprocessing import CROP_SIZE
from kinetics_i3d.serve import chunked, metrics, streams
from kinetics_i3d.serve.streams import check_same_classes

SIGNATURES = ("serving_default", "features", "logits_preprocessed")
# Most frames (batch x time) one request may carry per stream: 20 s at 25 fps, twice a Kinetics
# clip. One pass at 224 px peaks at about 3 GiB RSS here (BUILD_NOTES.md, "Long videos").
MAX_FRAMES = 500


class I3DServing(tf.Module):
    """Wraps one or two `InceptionI3d` streams (final_endpoint "Logits") with the signatures:
    `models` is `{"rgb": ..., "flow": ...}` (one or both) or a model with `stream_networks()`
    (e.g. the registered `two_stream_i3d`, a `TwoStreamI3D` restored from a trainer run;
    `streams.stream_networks`, a UserError for a model without them)."""

    def __init__(self, models: dict[str, "object"], class_names: Sequence[str],
                 top_k: int | None = None):
        super().__init__(name="i3d_serving")
        if not isinstance(models, Mapping):  # a whole-video model: InceptionI3d, TwoStreamI3D
            models = streams.stream_networks(models, getattr(models, "name", type(models).__name__))
        if not models or set(models) - {"rgb", "flow"}:
            raise ValueError(f"models must map 'rgb' and/or 'flow' to a model, "
                             f"got {sorted(models)}")
        for name, model in models.items():
            if model.modality.name != name:
                raise ValueError(f"models[{name!r}] is a {model.modality.name} model")
            if model.head is None:
                raise ValueError(f"models[{name!r}] has no Logits head")
        num_classes = check_same_classes(list(models.values()))
        if len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names; the model has "
                             f"{num_classes} classes")
        top_k = metrics.resolve_top_k(top_k, num_classes)  # None: 5, or the class count
        self.streams = sorted(models)  # "flow" before "rgb"; order is irrelevant to the sum
        # The Keras models are kept out of TF's object tracking (a SimpleNamespace is not
        # trackable) and their underlying `tf.Variable`s are tracked instead: tracking the Keras
        # wrappers saves each variable twice, and TF1-style loaders (`saved_model_cli run`,
        # TF Serving, C++) then restore the copy the graph does not read (keras-team/keras#19274).
        self._streams = types.SimpleNamespace(**models)
        self.model_variables = [_tf_variable(v) for s in self.streams
                                for v in getattr(self._streams, s).variables]
        self.top_k = int(top_k)
        self.class_names = tf.constant(list(class_names), tf.string)

    def _specs(self, raw: bool) -> dict[str, tf.TensorSpec]:
        specs = {}
        for s in self.streams:
            channels = getattr(self._streams, s).input_channels
            if raw and s == "rgb":
                specs[s] = tf.TensorSpec([None, None, None, None, channels], tf.uint8, name=s)
            elif raw:
                specs[s] = tf.TensorSpec([None, None, None, None, channels], tf.float32, name=s)
            else:
                specs[s] = tf.TensorSpec([None, None, CROP_SIZE, CROP_SIZE, channels], tf.float32,
                                         name=s)
        return specs

    def _check_lengths(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """`inputs`, after asserting that two streams' time axes (axis 1) differ by at most
        `fusion.MAX_FRAME_DIFFERENCE` (the rule `fusion.check_stream_lengths` applies outside the
        graph) and their batch sizes are equal; the error names both."""
        if len(self.streams) < 2:
            return inputs
        t_rgb, t_flow = tf.shape(inputs["rgb"])[1], tf.shape(inputs["flow"])[1]
        b_rgb, b_flow = tf.shape(inputs["rgb"])[0], tf.shape(inputs["flow"])[0]
        ok = tf.abs(t_rgb - t_flow) <= fusion.MAX_FRAME_DIFFERENCE
        check = tf.debugging.Assert(ok, [tf.strings.join([
            "two-stream input of different lengths: rgb has ", tf.strings.as_string(t_rgb),
            " frames and flow ", tf.strings.as_string(t_flow), " frames; give both streams of "
            "the same clip (flow T-1 frames for T RGB frames, the TV-L1 pairs)"])])
        # Same videos in both: a batch of 1 would otherwise broadcast onto the other's.
        same_batch = tf.debugging.Assert(tf.equal(b_rgb, b_flow), [tf.strings.join([
            "two-stream input of different batch sizes: rgb has ", tf.strings.as_string(b_rgb),
            " videos and flow ", tf.strings.as_string(b_flow), "; give both streams of the same "
            "videos"])])
        with tf.control_dependencies([check, same_batch]):
            return {k: tf.identity(v) for k, v in inputs.items()}

    def _check_max_frames(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Fails (InvalidArgumentError) when a stream has more than `MAX_FRAMES` frames."""
        out = {}
        for s in self.streams:
            shape = tf.shape(inputs[s])
            check = tf.debugging.assert_less_equal(
                shape[0] * shape[1], MAX_FRAMES,
                message=f"{s} input has more frames (batch x time, x below) than this SavedModel "
                        f"runs in one pass ({MAX_FRAMES}); send windows of at most {MAX_FRAMES} "
                        "frames or use the chunked whole-video path (tools/evaluate_sample.py, "
                        "kinetics_i3d.serve.chunked)")
            with tf.control_dependencies([check]):
                out[s] = tf.identity(inputs[s])
        return out

    def _preprocess(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        inputs = self._check_max_frames(inputs)
        out = {}
        for s in self.streams:
            fn = (preprocessing.network_input_rgb_tf if s == "rgb"
                  else preprocessing.network_input_flow_tf)
            x = fn(inputs[s])
            channels = getattr(self._streams, s).input_channels
            out[s] = tf.ensure_shape(x, [None, None, CROP_SIZE, CROP_SIZE, channels])
        return out

    def _logits(self, inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The streams' logits fused as everywhere else (`fusion.fuse_logits`: their sum)."""
        return fusion.fuse_logits({s: getattr(self._streams, s)(inputs[s], training=False)
                                   for s in self.streams})

    def _classify(self, logits: tf.Tensor) -> dict[str, tf.Tensor]:
        probs = tf.nn.softmax(logits)
        top_p, top_i = tf.math.top_k(probs, k=self.top_k)
        return {
            "logits": logits,
            "probabilities": probs,
            "top_k_indices": top_i,
            "top_k_probabilities": top_p,
            "top_k_classes": tf.gather(self.class_names, top_i),
        }

    def _features(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out = {}
        for s in self.streams:
            # Mixed_5c [B, T', 7, 7, 1024]
            mixed_5c = chunked.run_trunk(getattr(self._streams, s), inputs[s])
            out[f"{s}_mixed_5c_time"] = tf.reduce_mean(mixed_5c, axis=[2, 3])
            out[f"{s}_mixed_5c_pooled"] = tf.reduce_mean(mixed_5c, axis=[1, 2, 3])
        return out

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        raw, pre = self._specs(raw=True), self._specs(raw=False)

        @tf.function(input_signature=[raw])
        def serving_default(inputs):
            return self._classify(self._logits(self._preprocess(self._check_lengths(inputs))))

        @tf.function(input_signature=[raw])
        def features(inputs):
            return self._features(self._preprocess(self._check_lengths(inputs)))

        @tf.function(input_signature=[pre])
        def logits_preprocessed(inputs):
            # Preprocessed input must be in [-1, 1]: a uint8-range clip gives confident nonsense.
            inputs = self._check_lengths(inputs)

            inputs = self._check_max_frames(inputs)
            checked = {s: preprocessing.assert_unit_range_tf(
                inputs[s], f"logits_preprocessed input {s!r}", s) for s in self.streams}
            return {"logits": self._logits(checked)}

        # Signature functions take keyword tensors: wrap the dict-taking functions.
        fns = {"serving_default": serving_default, "features": features,
               "logits_preprocessed": logits_preprocessed}
        out = {}
        for name, fn in fns.items():
            specs = raw if name != "logits_preprocessed" else pre
            out[name] = _kwargs_function(fn, specs)
        return out


def _tf_variable(variable) -> tf.Variable:
    """The `tf.Variable` behind a Keras 3 variable (TensorFlow backend)."""
    value = getattr(variable, "value", variable)
    if not isinstance(value, tf.Variable):
        raise TypeError(f"cannot export variable {getattr(variable, 'path', variable)}: expected a "
                        f"TensorFlow-backend Keras variable, got {type(value)}")
    return value


def _kwargs_function(fn, specs: dict[str, tf.TensorSpec]):
    names = list(specs)

    def call(*args):
        return fn(dict(zip(names, args)))

    return tf.function(call, input_signature=[specs[n] for n in names]).get_concrete_function()


def export_saved_model(export_dir: str, models: dict[str, "object"], class_names: Sequence[str],
                       top_k: int | None = None) -> str:
    """Writes a SavedModel with `SIGNATURES` to `export_dir` and returns the path.

    Args:
      export_dir: output folder (created; an existing SavedModel there is overwritten).
      models: {"rgb": InceptionI3d, "flow": InceptionI3d} (one or both), "Logits" endpoint,
        weights already restored; or a model with `stream_networks()` (`I3DServing`).
      class_names: K names, index order.
      top_k: k of the top-k outputs (None: 5, or K if fewer; `metrics.resolve_top_k`).

    Raises:
      UserError: `top_k` outside [1, K].
    """
    module = I3DServing(models, class_names, top_k)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    return export_dir


def served_names() -> list[str]:
    """The models a SavedModel can serve: the `PREDICT_WHOLE_VIDEO` ones (`served_spec`)."""
    return [n for n in specs.video_names()
            if specs.get_spec(n).test_prediction == specs.PREDICT_WHOLE_VIDEO]


def served_spec(model_name: str) -> specs.ModelSpec:
    """The spec of `model_name` if the SavedModel can serve it, read from the spec: the
    `PREDICT_WHOLE_VIDEO` models (I3D, Two-Stream I3D), whose test-time prediction is their
    I3D streams over every frame given, what the signatures run.

    Raises `UserError` (one line) for the baselines (`PREDICT_SNAPSHOTS`): they predict over
    their interface's fixed test snapshots (Table 1), which no signature takes; `ValueError`
    for an unknown name.
    """
    spec = specs.get_spec(model_name)
    if spec.test_prediction != specs.PREDICT_WHOLE_VIDEO:
        raise UserError(f"--model={model_name}: the SavedModel serves whole-video I3D models "
                        f"(--model={'/'.join(served_names())}), whose signatures run each I3D "
                        f"stream over the frames given; {model_name} predicts over its fixed test "
                        f"snapshots (Table 1), which they do not take (evaluate it with "
                        f"tools/evaluate.py --model_dir)")
    return spec


def export_model(export_dir: str, model_name: str = "i3d",
                 checkpoints: Mapping[str, str] | None = None, model_dir: str | None = None,
                 checkpoint: str = "auto", label_map: str | None = None,
                 top_k: int | None = None) -> str:
    """Restores `model_name` (`served_spec`) and writes its SavedModel (`export_saved_model`);
    returns `export_dir`. What `tools/export_saved_model.py` runs.

    Args:
      checkpoints: release-layout checkpoint prefixes `{modality: prefix}` (`streams.load_streams`;
        I3D one or both streams, Two-Stream I3D both); or
      model_dir: a trainer run (`checkpoints.run.load_trained_model`; `checkpoint` picks auto /
        best / latest / a prefix), exported through the model's `stream_networks()`.
      label_map: class names, one per line (None: `label_map.txt` beside the first checkpoint or
        in `model_dir`, where the trainer copies it, as evaluation finds it; else the shipped
        Kinetics-400 / -600 map of the class count).
      top_k: k of the top-k outputs (`metrics.resolve_top_k`).

    Raises:
      UserError: a model the SavedModel does not serve, missing streams, a checkpoint of another
        model, no label map for the class count.
      ClassCountError: the streams or the label map disagree on the class count.
      FileNotFoundError: no such checkpoint (no trainer checkpoint in `model_dir`).
    """
    served_spec(model_name)
    if (checkpoints is None) == (model_dir is None):
        raise ValueError("give release-layout checkpoints or a trainer model_dir (one of them)")
    if model_dir is not None:
        model, path, label_map = streams.restore_run_model(model_name, model_dir, checkpoint,
                                                           label_map)
        models = streams.stream_networks(model, model_name)
        logging.info("%s from trainer checkpoint %s", model_name, path)
    else:
        models, label_map = streams.restore_release_streams(model_name, checkpoints,
                                                            label_map=label_map)
        logging.info("%s from release-layout checkpoints %s", model_name, dict(checkpoints))
    num_classes = next(iter(models.values())).num_classes
    names = streams.class_names(num_classes, label_map)
    return export_saved_model(export_dir, models, names, top_k=top_k)
