"""`make_dataset` end to end, on shards written by the ingest writer.

Two kinds of shards:
- real clips (`../shared/fixtures/videos`) decoded at a 32-pixel short side, with TV-L1 flow:
  shapes, value ranges, padding, sharding, determinism;
- "index" videos whose frames say which frame they are (RGB colour levels; flow-y in pixels)
  and carry a marker left of centre (white in RGB; flow-x = -18 px there, +10 px elsewhere):
  temporal sampling, looping, and the same crop and flip on every frame and both streams.
"""
import logging

import numpy as np
import pytest
import tensorflow as tf
from conftest import VIDEOS

from kinetics_i3d import mediasequence as ms
from kinetics_i3d import specs as interfaces
from kinetics_i3d.data import make_dataset, reader
from kinetics_i3d.ingest import flow as flow_lib
from kinetics_i3d.ingest import sequence, video

NUM_CLASSES = 10
SMALL = dict(crop_size=32, short_side=36)  # index videos are stored at 36x40
REAL_CLIPS = [("carphone_pristine.mp4", 20), ("cup.mp4", 12), ("bikes.mp4", 16), ("box.mp4", 10)]


def write_records(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record if isinstance(record, bytes) else record.SerializeToString())
    return str(path)


def real_example(name: str, num_frames: int, label: int, rgb_only: bool = False):
    clip = video.read_video(VIDEOS / name, fps=25, short_side=32, end_s=num_frames / 25)
    rgb = clip.rgb[:num_frames]
    flow = None if rgb_only else flow_lib.compute_flow(flow_lib.rgb_to_gray(rgb))
    return sequence.make_sequence_example(rgb, flow, fps=25, label_index=label,
                                          label_string=f"class_{label}", media_id=name)


def index_example(num_frames: int, media_id: str, label: int = 1):
    t = np.arange(num_frames)
    rgb = np.zeros((num_frames, 36, 40, 3), np.uint8)
    rgb[..., 0] = (20 + 14 * (t % 16))[:, None, None]
    rgb[..., 1] = (20 + 14 * (t // 16))[:, None, None]
    rgb[..., 2] = 128
    rgb[:, 14:18, 12:16] = 255
    flow = np.zeros((num_frames - 1, 36, 40, 2), np.float32)
    flow[..., 0] = 10.0
    flow[..., 1] = (-19.0 + 0.25 * t[:-1])[:, None, None]
    flow[:, 14:18, 12:16, 0] = -18.0
    return sequence.make_sequence_example(rgb, flow, fps=25, label_index=label,
                                          label_string=f"class_{label}", media_id=media_id)


def rgb_frame_index(frame):
    v = (frame + 1.0) * 127.5
    return int(round((np.median(v[..., 0]) - 20) / 14)) + 16 * int(
        round((np.median(v[..., 1]) - 20) / 14))


def flow_frame_index(frame):
    return int(round((np.median(frame[..., 1]) * 20.0 + 19.0) / 0.25))


def marker_x(mask):
    assert mask.any(), "marker not found in the crop"
    return float(np.nonzero(mask)[1].mean())


@pytest.fixture(scope="module")
def real_shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return [write_records(root / f"real-{i}.tfrecord", [real_example(name, n, label=i)])
            for i, (name, n) in enumerate(REAL_CLIPS)]


@pytest.fixture(scope="module")
def index_shard(tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    return write_records(root / "index.tfrecord",
                         [index_example(28, "short"), index_example(150, "long")])


def frames_of(batch, key, i=0):
    x = batch[key][i].numpy()
    return x.reshape((-1,) + x.shape[-3:])


def check_example(batch, i, interface, split, crop=32, test_clips=None):
    """Asserts one example's frames follow the interface; returns (flipped, rgb marker x)."""
    name = batch["media_id"][i].numpy().decode()
    num_frames = {"short": 28, "long": 150}[name]
    period = num_frames - 1  # both streams: looped with the flow stream's length
    sampling = interface.sampling(split)
    if test_clips:
        sampling = interfaces.Sampling(interface.train.rgb_offsets, interface.train.flow_offsets,
                                       num_snapshots=test_clips)
    rgb, flow = frames_of(batch, "rgb", i), frames_of(batch, "flow", i)
    rgb_idx = np.array([rgb_frame_index(f) for f in rgb])
    flow_idx = np.array([flow_frame_index(f) for f in flow])
    if sampling.whole_video:
        np.testing.assert_array_equal(rgb_idx, np.arange(num_frames))
        np.testing.assert_array_equal(flow_idx, np.arange(num_frames - 1))
    else:
        k = sampling.num_snapshots
        starts = (rgb_idx.reshape(k, -1)[:, 0] - sampling.rgb_offsets[0]) % period
        expect_rgb = (starts[:, None] + np.array(sampling.rgb_offsets)) % period
        expect_flow = (starts[:, None] + np.array(sampling.flow_offsets)) % period
        np.testing.assert_array_equal(rgb_idx, expect_rgb.ravel())
        np.testing.assert_array_equal(flow_idx, expect_flow.ravel())
        latest = max(period - sampling.footprint, 0)
        if split == "train":
            assert 0 <= starts[0] <= latest
        elif sampling.snapshot_stride is None:
            np.testing.assert_array_equal(starts, np.round(np.linspace(0, latest, k)))
    # One crop and one flip for every frame of both streams.
    rgb_x = [marker_x(f.min(axis=-1) > 0.7) for f in rgb]
    flow_x = [marker_x(np.abs(f[..., 0]) > 0.7) for f in flow]
    assert max(rgb_x) - min(rgb_x) < 0.5 and max(flow_x) - min(flow_x) < 0.5
    assert rgb_x[0] == pytest.approx(flow_x[0], abs=0.5)
    flipped = rgb_x[0] > crop / 2
    # Flow-x changes sign with the image (background +10 px -> -10 px); flow-y does not (the
    # frame index decoded from it above is right in both cases).
    background_x = np.median(flow[..., 0])
    assert background_x == pytest.approx(-0.5 if flipped else 0.5, abs=0.01)
    assert np.median(flow[..., 0][np.abs(flow[..., 0]) > 0.7]) == pytest.approx(
        0.9 if flipped else -0.9, abs=0.01)
    return flipped, rgb_x[0]


TWO_STREAM_MODELS = ["i3d", "two_stream", "fused_two_stream"]


@pytest.mark.parametrize("name", TWO_STREAM_MODELS)
def test_train_sampling_crop_and_flip_follow_the_interface(index_shard, name):
    interface = interfaces.get_interface(name)
    ds = make_dataset(index_shard, name, "train", batch_size=2, seed=11, shuffle_buffer=2,
                      num_classes=NUM_CLASSES, **SMALL)
    flips, positions = set(), set()
    for batch in ds.take(8):
        for i in range(2):
            flipped, x = check_example(batch, i, interface, "train")
            flips.add(flipped)
            positions.add(x if not flipped else 31 - x)
    assert flips == {True, False}  # both flips happen
    assert len(positions) > 1  # and the crop moves


@pytest.mark.parametrize("name", ["i3d", "two_stream", "fused_two_stream"])
def test_test_sampling_is_centred_and_unflipped(index_shard, name):
    interface = interfaces.get_interface(name)
    ds = make_dataset(index_shard, name, "test", batch_size=1, num_classes=NUM_CLASSES, **SMALL)
    media = []
    for batch in ds:
        flipped, x = check_example(batch, 0, interface, "test")
        assert not flipped and x == pytest.approx(13.5 - 4, abs=0.3)  # centre crop: x0 = 4
        media.append(batch["media_id"][0].numpy().decode())
    assert media == ["short", "long"]


def test_test_clips_are_evenly_spaced_training_snapshots(index_shard):
    interface = interfaces.get_interface("i3d")
    ds = make_dataset(index_shard, "i3d", "test", batch_size=2, test_clips=3,
                      num_classes=NUM_CLASSES, **SMALL)
    batch = next(iter(ds))
    assert batch["rgb"].shape == (2, 3, 64, 32, 32, 3)
    assert batch["flow"].shape == (2, 3, 64, 32, 32, 2)
    for i in range(2):
        check_example(batch, i, interface, "test", test_clips=3)
    # Each clip has the training layout (3D-Fused: 5 rgb, 5 snippets of 10 flow frames).
    fused = next(iter(make_dataset(index_shard, "fused_two_stream", "test", batch_size=1,
                                   test_clips=2, num_classes=NUM_CLASSES, **SMALL)))
    assert fused["rgb"].shape == (1, 2, 5, 32, 32, 3)
    assert fused["flow"].shape == (1, 2, 5, 10, 32, 32, 2)


@pytest.mark.parametrize("name", ["convnet_lstm", "c3d"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_rgb_models_sample_one_in_five_or_consecutive_frames(index_shard, name, split):
    interface = interfaces.get_interface(name)
    sampling = interface.sampling(split)
    ds = make_dataset(index_shard, name, split, batch_size=1, seed=5, num_classes=NUM_CLASSES,
                      **SMALL)
    for batch in ds.take(2):
        assert "flow" not in batch
        num_frames = {"short": 28, "long": 150}[batch["media_id"][0].numpy().decode()]
        idx = np.array([rgb_frame_index(f) for f in frames_of(batch, "rgb")])
        k = sampling.num_snapshots
        first = idx[0] if split == "train" else 0
        starts = np.arange(k) * (sampling.snapshot_stride or 0) + first
        expect = (starts[:, None] + np.array(sampling.rgb_offsets)) % num_frames  # rgb only
        np.testing.assert_array_equal(idx, expect.ravel())


def test_short_videos_loop_to_full_length(index_shard):
    ds = make_dataset(index_shard, "i3d", "train", batch_size=1, seed=2, shuffle_buffer=1,
                      num_classes=NUM_CLASSES, **SMALL)
    for batch in ds.take(4):
        if batch["media_id"][0].numpy() == b"short":
            rgb = batch["rgb"][0].numpy()
            assert rgb.shape[0] == 64
            # 27-frame period (the flow stream's length): frame k + 27 repeats frame k.
            np.testing.assert_array_equal(rgb[:37], rgb[27:])
            assert not np.array_equal(rgb[0], rgb[1])
            return
    pytest.fail("the short video was not sampled")


def test_photometric_augmentation_changes_rgb_only_when_enabled(index_shard):
    kwargs = dict(batch_size=1, seed=4, num_classes=NUM_CLASSES, **SMALL)
    plain = next(iter(make_dataset(index_shard, "i3d", "train", **kwargs)))
    jitter = next(iter(make_dataset(index_shard, "i3d", "train", photometric=True, **kwargs)))
    assert np.abs(plain["rgb"].numpy() - jitter["rgb"].numpy()).mean() > 0.01
    assert jitter["rgb"].numpy().min() >= -1.0 and jitter["rgb"].numpy().max() <= 1.0
    np.testing.assert_array_equal(plain["flow"].numpy(), jitter["flow"].numpy())


def test_modalities_select_streams(index_shard):
    batch = next(iter(make_dataset(index_shard, "i3d", "train", batch_size=1, seed=0,
                                   modalities=("flow",), num_classes=NUM_CLASSES, **SMALL)))
    assert "rgb" not in batch and batch["flow"].shape == (1, 64, 32, 32, 2)
    with pytest.raises(ValueError, match="modalities must be a non-empty subset"):
        make_dataset(index_shard, "c3d", "train", modalities=("flow",), **SMALL)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in interfaces.video_names() if n != "two_stream_i3d"])
def test_full_size_shapes_and_ranges_on_real_clips(real_shards, name):
    interface = interfaces.get_interface(name)
    size = interface.crop_size
    for split in ("train", "test"):
        batch = next(iter(make_dataset(real_shards[:1], name, split, batch_size=1, seed=1,
                                       num_classes=NUM_CLASSES, max_test_frames=16)))
        sampling = interface.sampling(split)
        for m, channels, layout, count in (
                ("rgb", 3, sampling.rgb_layout, sampling.num_rgb),
                ("flow", 2, sampling.flow_layout, sampling.num_flow)):
            if m not in interface.modalities:
                assert m not in batch
                continue
            x = batch[m].numpy()
            if sampling.whole_video:  # first 16 of 20 frames (flow: 19)
                layout = (16,)
            assert x.shape == (1,) + tuple(layout or (count,)) + (size, size, channels)
            assert x.dtype == np.float32 and x.min() >= -1.0 and x.max() <= 1.0
            if m == "rgb":
                assert x.std() > 0.1 and x.min() < -0.5 and x.max() > 0.5
            else:
                assert x.std() > 0.001
        assert batch["label"].numpy().tolist() == [0]
        np.testing.assert_array_equal(batch["label_one_hot"].numpy()[0], np.eye(NUM_CLASSES)[0])
        assert batch["label_string"].numpy().tolist() == [b"class_0"]
        assert batch["media_id"].numpy().tolist() == [REAL_CLIPS[0][0].encode()]


def test_real_clip_train_batch_shapes_and_ranges(real_shards):
    batch = next(iter(make_dataset(real_shards, "i3d", "train", batch_size=2, seed=0,
                                   num_classes=NUM_CLASSES, crop_size=28, short_side=32)))
    assert batch["rgb"].shape == (2, 64, 28, 28, 3) and batch["flow"].shape == (2, 64, 28, 28, 2)
    rgb, flow = batch["rgb"].numpy(), batch["flow"].numpy()
    assert -1.0 <= rgb.min() < -0.3 and 0.3 < rgb.max() <= 1.0
    assert -1.0 <= flow.min() < 0 < flow.max() <= 1.0
    labels = batch["label"].numpy()
    np.testing.assert_array_equal(batch["label_one_hot"].numpy(), np.eye(NUM_CLASSES)[labels])
    for label, media in zip(labels, batch["media_id"].numpy()):
        assert media.decode() == REAL_CLIPS[label][0]


def test_fixed_seed_is_deterministic(real_shards):
    def first(seed):
        ds = make_dataset(real_shards, "i3d", "train", batch_size=2, seed=seed,
                          num_classes=NUM_CLASSES, crop_size=28, short_side=32)
        return [{k: v.numpy() for k, v in b.items()} for b in ds.take(3)]

    a, b, c = first(3), first(3), first(4)
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert any(not np.array_equal(x["rgb"], z["rgb"]) for x, z in zip(a, c))


def test_test_batches_are_padded_with_masks(real_shards):
    ds = make_dataset(real_shards, "i3d", "test", batch_size=4, num_classes=NUM_CLASSES,
                      crop_size=28, short_side=32)
    batches = list(ds)
    assert len(batches) == 1
    batch = batches[0]
    lengths = [n for _, n in REAL_CLIPS]
    assert batch["rgb"].shape == (4, max(lengths), 28, 28, 3)
    np.testing.assert_array_equal(batch["rgb_num_frames"].numpy(), lengths)
    np.testing.assert_array_equal(batch["flow_num_frames"].numpy(), np.array(lengths) - 1)
    np.testing.assert_array_equal(batch["rgb_mask"].numpy(),
                                  np.arange(max(lengths))[None] < np.array(lengths)[:, None])
    singles = list(make_dataset(real_shards, "i3d", "test", batch_size=1,
                                num_classes=NUM_CLASSES, crop_size=28, short_side=32))
    for i, (single, n) in enumerate(zip(singles, lengths)):
        np.testing.assert_array_equal(batch["rgb"][i, :n].numpy(), single["rgb"][0].numpy())
        np.testing.assert_array_equal(batch["flow"][i, :n - 1].numpy(), single["flow"][0].numpy())
        assert not batch["rgb"][i, n:].numpy().any()  # padding is zeros, masked out


def test_max_test_frames_takes_the_first_frames(real_shards):
    batch = next(iter(make_dataset(real_shards[:1], "i3d", "test", batch_size=1,
                                   max_test_frames=8, num_classes=NUM_CLASSES,
                                   crop_size=28, short_side=32)))
    full = next(iter(make_dataset(real_shards[:1], "i3d", "test", batch_size=1,
                                  num_classes=NUM_CLASSES, crop_size=28, short_side=32)))
    assert batch["rgb"].shape[1] == 8 and batch["flow"].shape[1] == 8
    np.testing.assert_array_equal(batch["rgb"].numpy(), full["rgb"][:, :8].numpy())


def test_input_context_gives_each_worker_disjoint_files(real_shards):
    seen = []
    for worker in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                         num_replicas_in_sync=2)
        assert reader.shards_for_worker(real_shards, ctx) == real_shards[worker::2]
        ds = make_dataset(real_shards, "i3d", "test", batch_size=2, input_context=ctx,
                          num_classes=NUM_CLASSES, crop_size=28, short_side=32)
        ids = [m.decode() for b in ds for m in b["media_id"].numpy()]
        assert all(b["rgb"].shape[0] == 1 for b in ds)  # per-replica batch: 2 / 2
        seen.append(set(ids))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {name for name, _ in REAL_CLIPS}
    with pytest.raises(ValueError, match="cannot be split over 8 input pipelines"):
        reader.shards_for_worker(real_shards, tf.distribute.InputContext(8, 0, 8))


# --- bad input ---------------------------------------------------------------------------------

def read_all(pattern, **kwargs):
    ds = make_dataset(pattern, "i3d", "test", batch_size=1, num_classes=NUM_CLASSES, **SMALL,
                      **kwargs)
    return [b["media_id"][0].numpy().decode() for b in ds]


def corrupt(path, out, offset_fraction):
    data = bytearray(open(path, "rb").read())
    data[int(len(data) * offset_fraction)] ^= 0xFF
    open(out, "wb").write(bytes(data))
    return str(out)


@pytest.fixture(scope="module")
def good_records():
    return [index_example(12, f"v{i}").SerializeToString() for i in range(3)]


def test_corrupt_record_raises_naming_the_file_or_is_counted_when_skipped(
        tmp_path, good_records, caplog):
    path = write_records(tmp_path / "ok.tfrecord", good_records)
    bad = corrupt(path, tmp_path / "bad.tfrecord", 0.5)  # inside the second record
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"corrupt TFRecord file .*bad\.tfrecord"):
        read_all(bad)
    before = reader.skipped_count()
    with caplog.at_level(logging.WARNING):
        assert read_all(bad, skip_corrupt=True) == ["v0"]
    assert reader.skipped_count() > before
    assert "bad.tfrecord" in caplog.text and "skipped" in caplog.text


def test_unparsable_record_raises_or_is_skipped(tmp_path, good_records):
    path = write_records(tmp_path / "junk.tfrecord",
                         [good_records[0], b"\x0a\xff\xff not a proto", good_records[1]])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"junk\.tfrecord: 1 unparsable record\(s\) \(first at index 1\)"):
        read_all(path)
    assert read_all(path, skip_corrupt=True) == ["v0", "v1"]


def test_a_clip_with_several_labels_raises_naming_the_key(tmp_path, good_records):
    """MediaSequence allows several clip/label/index values; the reader reads one, so a
    multi-label clip must not train or score on its first label only (also with skip_corrupt)."""
    two = index_example(12, "two")
    two.context.feature["clip/label/index"].int64_list.value.append(3)
    path = write_records(tmp_path / "multi.tfrecord", [good_records[0], two])
    for skip in (False, True):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"record 1 of .*multi\.tfrecord: clip/label/index has 2 values"):
            read_all(path, skip_corrupt=skip)
    ids = index_example(12, "ids")
    ids.context.feature["clip/media_id"].bytes_list.value.append(b"other")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"clip/media_id has 2 values"):
        read_all(write_records(tmp_path / "ids.tfrecord", [ids]))


def test_missing_keys_raise_naming_the_key_and_file(tmp_path, good_records):
    unlabelled = sequence.make_sequence_example(
        np.zeros((12, 36, 40, 3), np.uint8), np.zeros((11, 36, 40, 2), np.float32), fps=25,
        label_index=None, label_string=None, media_id="nolabel")
    flow_only = sequence.make_sequence_example(
        None, np.zeros((11, 36, 40, 2), np.float32), fps=25, label_index=1, label_string="x",
        media_id="norgb")
    path = write_records(tmp_path / "keys.tfrecord", [good_records[0], unlabelled])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"record 1 of .*keys\.tfrecord: missing required MediaSequence key "
                             r"clip/label/index"):
        read_all(path)
    assert read_all(path, require_labels=False) == ["v0", "nolabel"]
    assert read_all(path, skip_corrupt=True) == ["v0"]
    path = write_records(tmp_path / "rgb.tfrecord", [flow_only])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"record 0 of .*rgb\.tfrecord: missing required MediaSequence key "
                             r"image/encoded "):
        read_all(path)
    anonymous = index_example(12, "x")
    del anonymous.context.feature["clip/media_id"]
    path = write_records(tmp_path / "id.tfrecord", [anonymous])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"record 0 of .*id\.tfrecord: missing required MediaSequence key "
                             r"clip/media_id"):
        read_all(path)
    assert read_all(path, require_labels=False) == [""]
    # The flow stream alone is fine for a flow-only model.
    ds = make_dataset(str(tmp_path / "rgb.tfrecord"), "i3d", "test", batch_size=1, modalities=("flow",),
                      num_classes=NUM_CLASSES, **SMALL)
    assert [b["media_id"][0].numpy() for b in ds] == [b"norgb"]


def test_label_outside_num_classes_raises(tmp_path):
    path = write_records(tmp_path / "label.tfrecord", [index_example(12, "v", label=12)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label index 12 outside \[0, 10\)"):
        read_all(path)


def test_empty_patterns_and_empty_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="no shard files match pattern .*nothing-\\*"):
        make_dataset(str(tmp_path / "nothing-*"), "i3d", "train")
    write_records(tmp_path / "empty.tfrecord", [])
    with pytest.raises(ValueError, match="are empty"):
        make_dataset(str(tmp_path / "empty*"), "i3d", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        make_dataset(str(tmp_path / "empty*"), "i3d", "validation")


def test_flow_resize_branch_rescales_displacements(tmp_path):
    """Flow stored at 32x48 px read at short side 256 (I3D test, 224 crop): each frame resized
    to 256x384 and its displacements x8 in both axes (32 -> 256), then clipped to [-1, 1]; x is
    channel 0, y channel 1, signs kept."""
    rgb = np.full((4, 32, 48, 3), 100, np.uint8)
    pixels = np.array([[1.0, -2.0], [3.0, -0.5], [-1.5, 0.75]], np.float32)  # (x, y) per frame
    flow = np.broadcast_to(pixels[:, None, None, :], (3, 32, 48, 2)).copy()
    path = write_records(tmp_path / "flow.tfrecord", [sequence.make_sequence_example(
        rgb, flow, fps=25, label_index=1, label_string="class_1", media_id="v")])
    (batch,) = make_dataset(path, "i3d", "test", batch_size=1, modalities=("flow",),
                            num_classes=NUM_CLASSES, crop_size=224, short_side=256)
    x = batch["flow"].numpy()[0]
    assert x.shape == (3, 224, 224, 2)
    stored = ms.decode_flow_unit(ms.encode_flow_uint8(pixels))  # what the shard holds, [-1, 1]
    expected = np.clip(8.0 * stored, -1.0, 1.0)
    # frame 0: (8, -16) px of 20 -> (0.4, -0.8); frame 1: x 24 px clipped to 1; frame 2: (-0.6,
    # 0.3), up to the uint8 quantisation of the stored values.
    np.testing.assert_allclose(expected, [[0.4, -0.8], [1.0, -0.2], [-0.6, 0.3]], atol=0.04)
    np.testing.assert_allclose(x, np.broadcast_to(expected[:, None, None, :], x.shape),
                               atol=1e-5)


def test_unlabelled_records(tmp_path):
    """require_labels=False: a record without clip/label/index gets label -1, an all-zero
    one-hot and an empty label string (a labelled one keeps its own). Several labels per clip:
    `test_a_clip_with_several_labels_raises_naming_the_key`."""
    unlabelled = sequence.make_sequence_example(
        np.zeros((12, 36, 40, 3), np.uint8), None, fps=25, label_index=None, label_string=None,
        media_id="nolabel")
    path = write_records(tmp_path / "labels.tfrecord",
                         [unlabelled, index_example(12, "one", label=2)])
    ds = make_dataset(path, "i3d", "test", batch_size=1, num_classes=NUM_CLASSES,
                      modalities=("rgb",), require_labels=False, **SMALL)
    got = {b["media_id"][0].numpy().decode(): b for b in ds}
    assert sorted(got) == ["nolabel", "one"]
    assert got["nolabel"]["label"].numpy().tolist() == [-1]
    np.testing.assert_array_equal(got["nolabel"]["label_one_hot"].numpy(),
                                  np.zeros((1, NUM_CLASSES), np.float32))
    assert got["nolabel"]["label_string"].numpy().tolist() == [b""]
    assert got["one"]["label"].numpy().tolist() == [2]
    np.testing.assert_array_equal(got["one"]["label_one_hot"].numpy()[0], np.eye(NUM_CLASSES)[2])
