"""`make_dataset`: MediaSequence TFRecord shards -> training or test batches for one model.

Pipeline (per input worker):
  shard files (glob, this worker's share under a `tf.distribute.InputContext`)
  -> shuffled per epoch (train) -> `interleave` of parallel `TFRecordDataset` reads
  -> parse (keys from `kinetics_i3d.mediasequence`), per-file integrity checks
  -> example shuffle buffer (train) -> parallel sample / decode / crop / flip (`processors`)
  -> batch (train) or padded batch with frame counts and masks (test) -> prefetch.

Every example draws its random choices from a stateless seed made of (seed, file visit, record
index), so a fixed `seed` gives the same batches however the parallel stages are scheduled.

Integrity: a TFRecord with a corrupt/truncated record (detected by comparing bytes read with the
file size), a record that is not a SequenceExample, or a record without a required key raises an
error that names the file, the record and the key; with `skip_corrupt=True` such records are
dropped instead and the skipped count is logged (absl WARNING). A pattern that matches no file,
or only empty files, raises at construction.

Labels (issue #16): every labelled record is checked against the label map in use (the model's
or a flag's, passed as `class_names`; by default the dataset's own `<name>-label_map.txt` written
by ingest beside the shards): its `clip/label/string` must be `class_names[clip/label/index]`.
The first mismatch stops the pipeline with an error naming the shard, the media id, both names
and the fix (a gather and a string compare per record, in the graph); consumers turn it into a
one-line `UserError` with `label_errors_as_user_errors`.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d import batch as keys
from kinetics_i3d import filesystems
from kinetics_i3d import mediasequence as ms
from kinetics_i3d.errors import UserError
from kinetics_i3d.data import processors
from kinetics_i3d.specs import TemporalInterface, get_interface
from kinetics_i3d.modalities import get_modality

SPLITS = ("train", "test")
_TFRECORD_FRAMING_BYTES = 16  # uint64 length + uint32 crc + data + uint32 crc
_STREAM_KEYS = {"rgb": ms.IMAGE_ENCODED, "flow": ms.FLOW_ENCODED}
_skipped_total = {"records": 0}
_SHARD_NAME = re.compile(r"^(?P<name>.+)-\d{5}-of-\d{5}\.tfrecord$")
LABEL_MISMATCH = "label mismatch in shard "
_LABEL_MISMATCH_RE = re.compile(re.escape(LABEL_MISMATCH) + r"[^\n]*?(?=\]|\n|$)")


def dataset_label_map(files: Sequence[str]) -> tuple[list[str], str] | None:
    """The label map ingest wrote beside `files` (`<dir>/<name>-label_map.txt` for shards
    `<dir>/<name>-NNNNN-of-NNNNN.tfrecord`) as (class names, path); None when there is none.

    Raises:
      UserError: the shards' label map files differ from each other.
    """
    found: dict[str, list[str]] = {}
    for f in files:
        match = _SHARD_NAME.match(os.path.basename(f))
        if not match:
            continue
        path = os.path.join(os.path.dirname(f), f"{match['name']}-label_map.txt")
        if path not in found and tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as g:
                found[path] = [line.strip() for line in g.read().splitlines() if line.strip()]
    if not found:
        return None
    paths = sorted(found)
    for p in paths[1:]:
        if found[p] != found[paths[0]]:
            raise UserError(f"the shards come from different label maps ({paths[0]} and {p}); "
                            f"read them separately")
    return found[paths[0]], paths[0]


@contextlib.contextmanager
def label_errors_as_user_errors() -> Iterator[None]:
    """Re-raises the reader's label-mismatch failure (a `tf.errors.InvalidArgumentError` from the
    input pipeline) as a one-line `UserError`; any other error passes unchanged."""
    try:
        yield
    except tf.errors.InvalidArgumentError as err:
        match = _LABEL_MISMATCH_RE.search(err.message or "")
        if match is None:
            raise
        # TensorFlow prints the message tensor with its quotes escaped.
        raise UserError(match.group(0).replace("\\'", "'")) from None


def list_shards(patterns: str | Sequence[str]) -> list[str]:
    """Sorted, de-duplicated files matching `patterns` (glob patterns or plain paths).

    Raises:
      FileNotFoundError: a pattern matches nothing.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        raise ValueError("no shard pattern given (patterns is empty)")
    files: set[str] = set()
    for pattern in patterns:
        filesystems.ensure_filesystem(pattern)
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise FileNotFoundError(f"no shard files match pattern {pattern!r}")
        files.update(matched)
    return sorted(files)


def shards_for_worker(files: Sequence[str],
                      input_context: tf.distribute.InputContext | None) -> list[str]:
    """This input worker's share of `files`: every `num_input_pipelines`-th file.

    Raises:
      ValueError: fewer files than input pipelines (some worker would read nothing).
    """
    files = list(files)
    if input_context is None or input_context.num_input_pipelines == 1:
        return files
    n = input_context.num_input_pipelines
    if len(files) < n:
        raise ValueError(f"{len(files)} shard files cannot be split over {n} input pipelines; "
                         "write at least one shard per input worker")
    return files[input_context.input_pipeline_id::n]


def _log_skips(path, skipped, unread_bytes, missing) -> np.int64:
    """Logs one file's skipped records (py_function body, skip_corrupt=True only)."""
    path = path.numpy().decode()
    count = int(skipped.numpy()) + int(missing.numpy()) + (1 if unread_bytes.numpy() > 0 else 0)
    if count:
        _skipped_total["records"] += count
        logging.warning(
            "skip_corrupt: skipped %d record(s) of %s (%d unparsable, %d with missing keys, "
            "%d unreadable trailing bytes); %d skipped in total",
            count, path, int(skipped.numpy()), int(missing.numpy()), int(unread_bytes.numpy()),
            _skipped_total["records"])
    return np.int64(count)


def skipped_count() -> int:
    """Records skipped so far by `skip_corrupt=True` datasets in this process."""
    return _skipped_total["records"]


# Context keys read as one value per clip (MediaSequence allows several).
_SINGLE_VALUED = (ms.CLIP_MEDIA_ID, ms.CLIP_LABEL_INDEX, ms.CLIP_LABEL_STRING)


class _Reader:
    """Per-file reading, parsing and checks (one instance per `make_dataset` call)."""

    def __init__(self, modalities: tuple[str, ...], require_labels: bool, num_classes: int,
                 skip_corrupt: bool, class_names: Sequence[str] | None = None,
                 label_map_source: str = ""):
        self.modalities = modalities
        # Index len(class_names) stands for "beyond the map" (the error says so).
        self.class_names = (None if class_names is None else tf.constant(
            list(class_names) + [f"(none: the label map has {len(class_names)} classes)"]))
        self.label_map_source = label_map_source
        self.require_labels = require_labels
        self.num_classes = num_classes
        self.skip_corrupt = skip_corrupt
        self.required = [_STREAM_KEYS[m] for m in modalities]
        if require_labels:  # evaluation needs the label and the id for its reports
            self.required += [ms.CLIP_LABEL_INDEX, ms.CLIP_MEDIA_ID]
        self.context_features = {
            ms.CLIP_MEDIA_ID: tf.io.VarLenFeature(tf.string),
            ms.CLIP_LABEL_INDEX: tf.io.VarLenFeature(tf.int64),
            ms.CLIP_LABEL_STRING: tf.io.VarLenFeature(tf.string),
        }
        self.sequence_features = {
            _STREAM_KEYS[m]: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True)
            for m in modalities}

    def _parse(self, index: tf.Tensor, record: tf.Tensor) -> dict[str, tf.Tensor]:
        """One record's features (all keys optional here; `missing` flags the required ones)."""
        context, sequence = tf.io.parse_single_sequence_example(
            record, self.context_features, self.sequence_features)
        media_id = context[ms.CLIP_MEDIA_ID].values
        label = context[ms.CLIP_LABEL_INDEX].values
        label_string = context[ms.CLIP_LABEL_STRING].values
        present = {ms.CLIP_MEDIA_ID: tf.size(media_id) > 0,
                   ms.CLIP_LABEL_INDEX: tf.size(label) > 0}
        out = {
            "index": index,
            "media_id": tf.concat([media_id, [""]], 0)[0],
            "label": tf.cast(tf.concat([label, [-1]], 0)[0], tf.int32),
            "label_string": tf.concat([label_string, [""]], 0)[0],
        }
        for m in self.modalities:
            out[f"{m}_encoded"] = sequence[_STREAM_KEYS[m]]
            present[_STREAM_KEYS[m]] = tf.size(sequence[_STREAM_KEYS[m]]) > 0
        out["missing"] = tf.logical_not(tf.stack([present[k] for k in self.required]))
        out["value_counts"] = tf.stack([tf.size(context[k].values) for k in _SINGLE_VALUED])
        return out

    def _check_single_values(self, path: tf.Tensor, item: dict[str, tf.Tensor]
                             ) -> dict[str, tf.Tensor]:
        """Asserts each `_SINGLE_VALUED` context key holds at most one value, in every mode:
        a multi-label clip would otherwise train and score on its first label only."""
        counts = item["value_counts"]
        worst = tf.argmax(counts)
        ok = tf.logical_or(item["index"] < 0, tf.reduce_max(counts) <= 1)
        check = tf.debugging.Assert(ok, [tf.strings.join([
            "record ", tf.strings.as_string(item["index"]), " of ", path, ": ",
            tf.gather(tf.constant(_SINGLE_VALUED), worst), " has ",
            tf.strings.as_string(tf.gather(counts, worst)), " values; one per clip is read "
            "(multi-label clips are not supported: write one example per label)"])])
        with tf.control_dependencies([check]):
            item = dict(item)
            item["index"] = tf.identity(item["index"])
        return item

    def _check_record(self, path: tf.Tensor, item: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Error mode: asserts the record has every required key and a valid label."""
        is_end = item["index"] < 0
        missing = item["missing"]
        first_missing = tf.gather(tf.constant(self.required),
                                  tf.argmax(tf.cast(missing, tf.int32)))
        where = tf.strings.join(["record ", tf.strings.as_string(item["index"]), " of ", path])
        ok_keys = tf.logical_or(is_end, tf.logical_not(tf.reduce_any(missing)))
        hint = " (pass skip_corrupt=True to skip such records"
        hint += ", require_labels=False to read unlabelled data)" if self.require_labels else ")"
        checks = [tf.debugging.Assert(ok_keys, [tf.strings.join([
            where, ": missing required MediaSequence key ", first_missing, hint])])]
        if self.require_labels:
            label = item["label"]
            ok_label = tf.logical_or(is_end, tf.logical_and(label >= 0, label < self.num_classes))
            checks.append(tf.debugging.Assert(ok_label, [tf.strings.join([
                where, ": label index ", tf.strings.as_string(label), " outside [0, ",
                str(self.num_classes), ") (num_classes)"])]))
        with tf.control_dependencies(checks):
            item = dict(item)
            item["index"] = tf.identity(item["index"])
        return item

    def _check_label(self, path: tf.Tensor, item: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Asserts `clip/label/string == class_names[clip/label/index]` (records with both)."""
        label, stored = item["label"], item["label_string"]
        n = tf.shape(self.class_names)[0] - 1
        expected = tf.gather(self.class_names, tf.clip_by_value(label, 0, n))
        ok = tf.reduce_any(tf.stack([label < 0, tf.equal(stored, ""),
                                     tf.logical_and(label < n, tf.equal(expected, stored))]))
        check = tf.debugging.Assert(ok, [tf.strings.join([
            LABEL_MISMATCH, path, ", media id '", item["media_id"], "': clip/label/index ",
            tf.strings.as_string(label), " is '", expected, "' in the label map in use (",
            self.label_map_source, ") but the example's clip/label/string is '", stored,
            "'; the shards were built with another label map: rebuild them with "
            "build_tfrecords.py --label_map=<the model's label map>, or pass the label map they "
            "were built with (<name>-label_map.txt beside them) as --label_map"])])
        with tf.control_dependencies([check]):
            return dict(item, label=tf.identity(label))

    def file_records(self, visit: tf.Tensor, path: tf.Tensor, size: tf.Tensor) -> tf.data.Dataset:
        """Parsed records of one file, with the checks of the module docstring."""
        raw = tf.data.TFRecordDataset(path).ignore_errors().enumerate()
        end = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64), tf.constant(b"")))
        zero = tf.constant(0, tf.int64)

        def bytes_read(consumed, item):
            # Bytes of the file read so far (records + framing), before any record is dropped.
            index, record = item
            consumed += tf.where(index < 0, zero, tf.cast(tf.strings.length(record), tf.int64)
                                 + _TFRECORD_FRAMING_BYTES)
            return consumed, (index, record, consumed)

        items = raw.concatenate(end).scan(zero, bytes_read)
        items = items.map(lambda i, r, consumed: dict(self._parse(i, r), consumed=consumed))
        items = items.ignore_errors()  # unparsable records leave a gap in the indices
        items = items.map(lambda item: self._check_single_values(path, item))
        if not self.skip_corrupt:
            items = items.map(lambda item: self._check_record(path, item))

        def count(state, item):
            expected, skipped, missing, first_bad = state
            is_end = item["index"] < 0
            gap = tf.where(is_end, zero, item["index"] - expected)
            bad_keys = tf.logical_and(tf.logical_not(is_end), tf.reduce_any(item["missing"]))
            new_state = (
                tf.where(is_end, expected, item["index"] + 1),
                skipped + gap,
                missing + tf.cast(bad_keys, tf.int64),
                tf.where(tf.logical_and(first_bad < 0, gap > 0), expected, first_bad),
            )
            item = dict(item, skipped=new_state[1], missing_count=new_state[2],
                        first_bad=new_state[3], bad_keys=bad_keys)
            return new_state, item

        items = items.scan((zero, zero, zero, tf.constant(-1, tf.int64)), count)

        def check_file(item):
            is_end = item["index"] < 0
            unread = tf.where(is_end, size - item["consumed"], zero)
            if self.skip_corrupt:
                logged = tf.cond(
                    tf.logical_and(is_end, tf.logical_or(
                        unread != 0, item["skipped"] + item["missing_count"] > 0)),
                    lambda: tf.py_function(_log_skips, [path, item["skipped"], unread,
                                                        item["missing_count"]], tf.int64),
                    lambda: zero)
                deps = [logged]
            else:
                ok = tf.logical_or(tf.logical_not(is_end),
                                   tf.logical_and(unread == 0, item["skipped"] == 0))
                deps = [tf.debugging.Assert(ok, [tf.strings.join([
                    "corrupt TFRecord file ", path, ": ",
                    tf.strings.as_string(item["skipped"]), " unparsable record(s) (first at index ",
                    tf.strings.as_string(item["first_bad"]), "), ",
                    tf.strings.as_string(unread), " of ", tf.strings.as_string(size),
                    " bytes unreadable (bad CRC or truncated); pass skip_corrupt=True to skip "
                    "corrupt records"])])]
            with tf.control_dependencies(deps):
                keep = tf.logical_and(tf.logical_not(is_end), tf.logical_not(item["bad_keys"]))
            return keep

        items = items.filter(check_file)
        if self.class_names is not None:
            items = items.map(lambda item: self._check_label(path, item))
        return items.map(lambda item: {
            "visit": visit, "index": item["index"], "path": path,
            **{k: item[k] for k in ("media_id", "label", "label_string")},
            **{f"{m}_encoded": item[f"{m}_encoded"] for m in self.modalities}})


class _Sampler:
    """Per-example sampling, decoding and augmentation for one interface and split."""

    def __init__(self, interface: TemporalInterface, split: str, modalities: tuple[str, ...],
                 crop_size: int, short_side: int, num_classes: int, base_seed: int,
                 photometric: bool, max_test_frames: int | None, test_clips: int | None):
        self.split = split
        self.train = split == "train"
        sampling = interface.sampling(split)
        if not self.train and test_clips is not None:
            train = interface.train
            sampling = type(train)(
                rgb_offsets=train.rgb_offsets, flow_offsets=train.flow_offsets,
                num_snapshots=test_clips,
                rgb_layout=(test_clips,) + (train.rgb_layout or (train.num_rgb,)),
                flow_layout=(test_clips,) + (train.flow_layout or (train.num_flow,)))
        self.sampling = sampling
        self.offsets = {"rgb": sampling.rgb_offsets, "flow": sampling.flow_offsets}
        self.layouts = {"rgb": sampling.rgb_layout or (sampling.num_rgb,),
                        "flow": sampling.flow_layout or (sampling.num_flow,)}
        self.modalities = modalities
        self.crop_size = crop_size
        self.short_side = short_side
        self.num_classes = num_classes
        self.base_seed = base_seed
        self.photometric = photometric
        self.max_test_frames = max_test_frames

    def _crop(self, frames: tf.Tensor, state: dict[str, tf.Tensor] | None) -> tf.Tensor:
        """The `[N, S, S, C]` window of `[N, H, W, C]` frames: placed by `state`, else centred."""
        shape = tf.shape(frames)
        y, x = processors.crop_offsets(shape[1], shape[2], self.crop_size, state)
        return processors.crop_frames(frames, y, x, self.crop_size)

    def _rgb(self, encoded: tf.Tensor, state: dict[str, tf.Tensor] | None) -> tf.Tensor:
        """`[N]` JPEGs -> `[N, S, S, 3]` float32 in [-1, 1] (cropped, flipped per `state`)."""
        shape = tf.image.extract_jpeg_shape(encoded[0])
        height, width = shape[0], shape[1]
        size = self.crop_size

        def crop_only():
            y, x = processors.crop_offsets(height, width, size, state)
            return tf.cast(processors.decode_and_crop_jpeg_frames(encoded, y, x, size), tf.float32)

        def resize_then_crop():
            return self._crop(processors.resize_smallest(processors.decode_frames(encoded, 3),
                                                         self.short_side), state)

        frames = tf.cond(tf.equal(tf.minimum(height, width), self.short_side),
                         crop_only, resize_then_crop)
        frames = processors.rgb_to_unit(frames)
        if state is not None:
            frames = processors.flip_left_right(frames, state["flip"])
            if self.photometric:
                frames = processors.photometric_jitter(frames, state)
        return frames

    def _flow(self, encoded: tf.Tensor, state: dict[str, tf.Tensor] | None) -> tf.Tensor:
        """`[N]` flow images -> `[N, S, S, 2]` float32 in [-1, 1] (x negated when flipped)."""
        decoded = processors.decode_frames(encoded, 3)
        shape = tf.shape(decoded)
        # Stored at the short side: crop the uint8 frames, then convert only the crop (64 PNG
        # frames at 256x340: 33 ms vs 40 ms converting whole frames, measured while other jobs ran).
        frames = tf.cond(
            tf.equal(tf.minimum(shape[1], shape[2]), self.short_side),
            lambda: processors.flow_to_unit(self._crop(decoded, state)),
            lambda: self._crop(processors.resize_smallest(processors.flow_to_unit(decoded),
                                                          self.short_side, is_flow=True), state))
        if state is not None:
            frames = processors.flip_left_right(frames, state["flip"], is_flow=True)
        return frames

    def __call__(self, rec: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        counts = {m: tf.shape(rec[f"{m}_encoded"], out_type=tf.int32)[0] for m in self.modalities}
        # One time axis for both streams: loop with the shorter stream's period (flow has one
        # frame fewer than RGB), so RGB frame t and flow frame t stay aligned after a wrap.
        period = tf.reduce_min(tf.stack([counts[m] for m in self.modalities]))
        out: dict[str, tf.Tensor] = {
            keys.LABEL: rec["label"],
            keys.LABEL_ONE_HOT: tf.one_hot(rec["label"], self.num_classes, dtype=tf.float32),
            keys.LABEL_STRING: rec["label_string"],
            keys.MEDIA_ID: rec["media_id"],
            keys.NUM_FRAMES: counts.get("rgb", period + 1),
        }
        state = None
        if self.train:
            seed = tf.random.experimental.stateless_fold_in(
                tf.stack([tf.constant(self.base_seed, tf.int64), rec["visit"]]), rec["index"])
            state = processors.random_state(seed, photometric=self.photometric)
        decode = {"rgb": self._rgb, "flow": self._flow}
        if self.sampling.whole_video:
            for m in self.modalities:
                n = counts[m] if self.max_test_frames is None else tf.minimum(
                    counts[m], self.max_test_frames)
                frames = decode[m](rec[f"{m}_encoded"][:n], state)
                out[keys.frames_key(m)] = frames
                out[keys.num_frames_key(m)] = n
            return out
        s = self.sampling
        if self.train:
            starts = processors.random_start(period, s.footprint, state["start_u"])[None]
        else:
            starts = processors.snapshot_starts(period, s.footprint, s.num_snapshots,
                                                s.snapshot_stride)
        for m in self.modalities:
            idx = processors.frame_indices(starts, self.offsets[m], period)
            frames = decode[m](tf.gather(rec[f"{m}_encoded"], tf.reshape(idx, [-1])), state)
            layout = self.layouts[m]
            channels = get_modality(m).channels
            out[keys.frames_key(m)] = tf.reshape(
                frames, list(layout) + [self.crop_size, self.crop_size, channels])
            if not self.train:
                out[keys.num_frames_key(m)] = tf.constant(layout[0], tf.int32)
        return out


def _add_masks(batch: dict[str, tf.Tensor], modalities: tuple[str, ...]) -> dict[str, tf.Tensor]:
    batch = dict(batch)
    for m in modalities:
        batch[keys.mask_key(m)] = tf.sequence_mask(batch[keys.num_frames_key(m)],
                                                   maxlen=tf.shape(batch[keys.frames_key(m)])[1])
    return batch


def make_dataset(
    patterns: str | Sequence[str],
    interface: str | TemporalInterface,
    split: str = "train",
    batch_size: int = 1,
    *,
    input_context: tf.distribute.InputContext | None = None,
    seed: int | None = None,
    num_classes: int = 400,
    modalities: Sequence[str] | None = None,
    crop_size: int | None = None,
    short_side: int | None = None,
    max_test_frames: int | None = None,
    test_clips: int | None = None,
    photometric: bool = False,
    skip_corrupt: bool = False,
    require_labels: bool = True,
    repeat: bool | None = None,
    shuffle_buffer: int = 32,
    cycle_length: int = 8,
    deterministic: bool | None = None,
    class_names: Sequence[str] | None = None,
    label_map_source: str = "",
) -> tf.data.Dataset:
    """Batches of clips from MediaSequence shards for model `interface` (a name of
    `kinetics_i3d.specs.SPECS` with an interface, or a `TemporalInterface`).

    Usable as `strategy.distribute_datasets_from_function(lambda ctx: make_dataset(...,
    batch_size=GLOBAL, input_context=ctx))`: each input worker reads a disjoint share of the
    files and batches `ctx.get_per_replica_batch_size(batch_size)` examples.

    Args:
      patterns: shard file glob(s): local, gs://, s3:// or hdfs:// (tensorflow-io).
      split: "train" (random start, random crop, random flip; shuffled and repeated) or "test"
        (centre crop, no randomness, one pass in file order, padded batches).
      batch_size: global batch size (per worker without `input_context`).
      seed: fixes file order, example shuffling and every random choice; None draws one.
      num_classes: depth of `label_one_hot`; labels outside [0, num_classes) are errors.
      modalities: subset of the interface's ("rgb", "flow") to read, e.g. ("rgb",) for RGB-I3D.
      crop_size, short_side: override the interface's crop and short-side size (tests).
      max_test_frames: whole-video test interfaces read at most the first N frames.
      test_clips: test with this many evenly spaced snapshots of the *training* interface
        (e.g. I3D: `test_clips` 64-frame clips) instead of the interface's test sampling.
      photometric: brightness/contrast/saturation jitter on training RGB (off by default).
      skip_corrupt: drop corrupt records and records with missing keys (count logged) instead
        of raising.
      require_labels: if False, unlabelled records get label -1 and an all-zero one-hot, and
        records without `clip/media_id` an empty `media_id` (e.g. feature extraction).
      repeat: repeat forever; default True for train, False for test.
      shuffle_buffer: examples in the training shuffle buffer (each holds encoded frames).
      cycle_length: files read concurrently.
      deterministic: keep element order fixed; default True when `seed` is given or for test.
      class_names: the label map in use (index -> name), checked against every labelled record
        (module docstring); default: the dataset's `<name>-label_map.txt` beside the shards, if
        there is one (else no check: e.g. MediaPipe's shards). `label_map_source` names it in
        the error.

    Returns:
      A dataset of dicts with, per stream read, `rgb` `[B, *layout, S, S, 3]` and/or `flow`
      `[B, *layout, S, S, 2]` float32 in [-1, 1], where `layout` is the interface's model input
      layout (`kinetics_i3d.specs`): e.g. I3D train `[B, 64, 224, 224, C]`; Two-Stream test rgb
      `[B, 25, 224, 224, 3]`, flow `[B, 25, 10, 224, 224, 2]`; with `test_clips=K`,
      `[B, K, *training layout, S, S, C]` (so `[:, k]` is what training feeds the model).
      Whole-video test (I3D): `[B, T, S, S, C]` with T the longest
      video of the batch, zero-padded. Test batches add `{m}_num_frames` int32 `[B]` (valid
      entries along axis 1) and `{m}_mask` bool `[B, axis-1 length]`, so padding never enters a
      prediction. Always: `label` int32 `[B]`, `label_one_hot` float32 `[B, num_classes]`,
      `label_string` and `media_id` string `[B]`, `num_frames` int32 `[B]` (stored frames of the
      video).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(interface, str):
        interface = get_interface(interface)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    modalities = tuple(modalities) if modalities is not None else interface.modalities
    unknown = [m for m in modalities if m not in interface.modalities]
    if not modalities or unknown:
        raise ValueError(f"modalities must be a non-empty subset of {interface.modalities} for "
                         f"interface {interface.name!r}, got {modalities}")
    if max_test_frames is not None and max_test_frames < 1:
        raise ValueError(f"max_test_frames must be >= 1 or None, got {max_test_frames}")
    if test_clips is not None and test_clips < 1:
        raise ValueError(f"test_clips must be >= 1 or None, got {test_clips}")
    train = split == "train"
    crop_size = crop_size or interface.crop_size
    short_side = short_side or interface.short_side
    if crop_size > short_side:
        raise ValueError(f"crop_size={crop_size} is larger than short_side={short_side}")
    repeat = train if repeat is None else repeat
    if deterministic is None:
        deterministic = seed is not None or not train
    base_seed = int(seed) if seed is not None else int(np.random.randint(0, 2**31 - 1))

    files = shards_for_worker(list_shards(patterns), input_context)
    sizes = [tf.io.gfile.stat(f).length for f in files]
    if sum(sizes) == 0:
        raise ValueError(f"all {len(files)} shard files matching {patterns!r} are empty")
    per_replica = (input_context.get_per_replica_batch_size(batch_size)
                   if input_context is not None else batch_size)
    logging.info("make_dataset(%s, %s): %d shard files, batch %d, modalities %s", interface.name,
                 split, len(files), per_replica, modalities)

    if class_names is None:
        found = dataset_label_map(files)
        if found is not None:
            class_names, label_map_source = found
    reader = _Reader(modalities, require_labels, num_classes, skip_corrupt, class_names,
                     label_map_source or "given class names")
    sampler = _Sampler(interface, split, modalities, crop_size, short_side, num_classes,
                       base_seed, photometric, max_test_frames, test_clips)

    file_ds = tf.data.Dataset.from_tensor_slices((files, tf.constant(sizes, tf.int64)))
    if train:
        file_ds = file_ds.shuffle(len(files), seed=base_seed, reshuffle_each_iteration=True)
    if repeat:
        file_ds = file_ds.repeat()
    records = file_ds.enumerate().interleave(
        lambda visit, f: reader.file_records(visit, f[0], f[1]),
        cycle_length=min(cycle_length, len(files)), block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if train and shuffle_buffer > 1:
        records = records.shuffle(shuffle_buffer, seed=base_seed)
    examples = records.map(sampler, num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=deterministic)
    if train:
        batches = examples.batch(per_replica, drop_remainder=True)
    else:
        batches = examples.padded_batch(per_replica).map(lambda b: _add_masks(b, modalities))
    options = tf.data.Options()
    options.deterministic = deterministic
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)

