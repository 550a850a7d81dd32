"""Labels meet models (issue #16): evaluation and training check every example's
`clip/label/string` against `class_names[clip/label/index]` of the label map in use and stop at
the first mismatch with one line naming the shard, the media id, both names and the fix."""
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d import labels
from kinetics_i3d.data import make_dataset
from kinetics_i3d.data.reader import dataset_label_map, label_errors_as_user_errors
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest.sequence import make_sequence_example
from kinetics_i3d.serve import evaluate
from kinetics_i3d.train import TrainConfig, Trainer
from kinetics_i3d.train.inputs import shards_dataset_fns

NAMES = ["abseiling", "air drumming", "zumba"]
SMALL = dict(modalities=("rgb",), crop_size=16, short_side=16, num_classes=3)


def _write_shard(folder, name, examples):
    """`<folder>/<name>-00000-of-00001.tfrecord` of (media id, index, string) examples (12 RGB
    frames, 16x20 px) and `<name>-label_map.txt` with NAMES, as ingest writes them."""
    rng = np.random.default_rng(0)
    path = folder / f"{name}-00000-of-00001.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for media_id, index, string in examples:
            rgb = rng.integers(0, 256, (12, 16, 20, 3)).astype(np.uint8)
            writer.write(make_sequence_example(
                rgb, None, fps=25.0, label_index=index, label_string=string, media_id=media_id,
                label_map_sha256=labels.label_map_hash(NAMES)).SerializeToString())
    labels.write_label_map(folder / f"{name}-label_map.txt", NAMES)
    return str(path)


@pytest.fixture()
def bad_shard(tmp_path):
    # The second example says index 1 but "zumba" (399 in the release, 2 here): a shard from
    # another label map, or hand-edited.
    return _write_shard(tmp_path, "val", [("ok_clip", 0, "abseiling"), ("bad_clip", 1, "zumba")])


def _assert_names_everything(message, shard):
    assert "\n" not in message
    assert f"label mismatch in shard {shard}" in message
    assert "media id 'bad_clip'" in message
    assert "clip/label/index 1 is 'air drumming'" in message
    assert "clip/label/string is 'zumba'" in message
    assert "--label_map" in message  # the fix


def test_the_dataset_label_map_is_found_and_checked_by_default(bad_shard, tmp_path):
    names, path = dataset_label_map([bad_shard])
    assert names == NAMES and path.endswith("val-label_map.txt")
    ds = make_dataset(bad_shard, "i3d", "test", **SMALL)
    with pytest.raises(UserError) as err, label_errors_as_user_errors():
        list(ds.as_numpy_iterator())
    _assert_names_everything(str(err.value), bad_shard)
    # A consistent shard reads through, with the label map's own check in place.
    (tmp_path / "good").mkdir()
    good = _write_shard(tmp_path / "good", "good", [("a", 2, "zumba"), ("b", 1, "air drumming")])
    batches = list(make_dataset(good, "i3d", "test", **SMALL).as_numpy_iterator())
    assert [int(b["label"][0]) for b in batches] == [2, 1]
    # The label map of the model in use wins over the dataset's: here it disagrees with "b".
    ds = make_dataset(good, "i3d", "test", **SMALL, class_names=["x", "y", "zumba"],
                      label_map_source="--label_map=m.txt")
    with pytest.raises(UserError, match=r"media id 'b'.*index 1 is 'y' in the label map in use "
                                        r"\(--label_map=m.txt\)"), label_errors_as_user_errors():
        list(ds.as_numpy_iterator())


def test_evaluation_stops_at_the_mismatch(bad_shard, tmp_path):
    label_map = tmp_path / "model_labels.txt"
    labels.write_label_map(label_map, NAMES)
    with pytest.raises(UserError) as err:
        evaluate.run_evaluation(bad_shard, {"rgb": None}, str(tmp_path / "eval"),
                                label_map=str(label_map), num_classes=3)
    _assert_names_everything(str(err.value), bad_shard)
    assert f"--label_map={label_map}" in str(err.value)


def test_training_stops_at_the_mismatch(bad_shard, tmp_path):
    config = TrainConfig(model="i3d", modality="rgb", train_pattern=bad_shard, val_pattern="",
                         num_classes=3, num_frames=9, crop_size=193, batch_size_per_replica=1,
                         model_dir=str(tmp_path / "model"), train_steps=2, eval_every=0,
                         eval_steps=0, checkpoint_every=2, log_every=1)
    trainer = Trainer(config)
    train_fn, val_fn = shards_dataset_fns(config, trainer.global_batch)
    with pytest.raises(UserError) as err:
        trainer.fit(train_fn, val_fn)
    _assert_names_everything(str(err.value), bad_shard)
