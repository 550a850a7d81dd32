"""kinetics_i3d.ingest.shards: sharded build, failures, resume after interruption, task split."""
import csv
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import VIDEOS
from kinetics_i3d import provenance
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest import sequence
from kinetics_i3d.ingest import shards
from kinetics_i3d.ingest import video
from kinetics_i3d.ingest.manifests import VideoEntry

# Tiny frames and 0.32 s spans keep TV-L1 cheap (8 RGB frames, 7 flow frames per video).
OPTIONS = shards.IngestOptions(short_side=32)
FRAMES = 8
SOURCE_SIZES = {"cup.mp4": (480, 640), "box.mp4": (480, 640), "bikes.mp4": (272, 640),
                "carphone_pristine.mp4": (144, 176)}


def _good_entries(count: int) -> list[VideoEntry]:
    names = ["cup.mp4", "box.mp4", "bikes.mp4", "carphone_pristine.mp4"]
    return [VideoEntry(path=str(VIDEOS / names[i % 4]), media_id=f"vid{i:02d}", label_index=i % 3,
                       label_string=f"class{i % 3}", start_s=0.4 * i, end_s=0.4 * i + 0.32)
            for i in range(count)]


def _bad_entries(tmp_path) -> list[VideoEntry]:
    data = (VIDEOS / "cup.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n")
    return [VideoEntry(path=str(tmp_path / n), media_id=n, label_index=0, label_string="class0")
            for n in ("truncated.mp4", "empty.mp4", "text.mp4", "missing.mp4")]


def _read_dir(out_dir) -> dict[str, list[dict]]:
    """{shard file name: [parsed examples]} for the finished shards in out_dir."""
    result = {}
    for name in sorted(os.listdir(out_dir)):
        if name.endswith(".tfrecord"):
            result[name] = [sequence.parse_sequence_example(r.numpy()) for r in
                            tf.data.TFRecordDataset(os.path.join(out_dir, name))]
    return result


def _shard_bytes(out_dir) -> dict[str, bytes]:
    return {n: open(os.path.join(out_dir, n), "rb").read() for n in os.listdir(out_dir)
            if n.endswith(".tfrecord")}


def test_assignment_is_deterministic_disjoint_and_complete():
    entries = _good_entries(23)
    a = shards.assign_shards(entries, 5, shuffle_seed=3)
    b = shards.assign_shards(entries, 5, shuffle_seed=3)
    assert a == b
    ids = [e.media_id for shard in a for e in shard]
    assert sorted(ids) == sorted(e.media_id for e in entries)
    assert max(map(len, a)) - min(map(len, a)) <= 1
    assert [e.media_id for e in shards.assign_shards(entries, 1, None)[0]] == [
        e.media_id for e in entries]
    tasks = [shards.task_shards(10, k, 3) for k in range(3)]
    assert tasks == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(ValueError, match="task_index"):
        shards.task_shards(10, 3, 3)


def test_build_writes_each_video_once_and_lists_failures(tmp_path):
    entries = _good_entries(5) + _bad_entries(tmp_path)
    out = tmp_path / "out"
    summary = shards.build_dataset(entries, str(out), name="train", num_shards=3, options=OPTIONS)
    assert (summary.num_videos, summary.num_written, summary.num_failed) == (9, 5, 4)
    assert summary.num_frames == 5 * FRAMES and not summary.all_failed
    files = sorted(os.listdir(out))
    assert not [f for f in files if f.endswith(".incomplete")]
    assert "train-00002-of-00003.tfrecord" in files
    parsed = _read_dir(out)
    assert len(parsed) == 3
    examples = [ex for shard in parsed.values() for ex in shard]
    assert sorted(ex["media_id"] for ex in examples) == [f"vid{i:02d}" for i in range(5)]
    for ex in examples:
        i = int(ex["media_id"][3:])
        source_hw = SOURCE_SIZES[entries[i].path.rsplit("/", 1)[-1]]
        assert ex["rgb"].shape == (FRAMES,) + video.resized_shape(*source_hw, 32) + (3,)
        assert ex["flow"].shape == (FRAMES - 1,) + ex["rgb"].shape[1:3] + (2,)
        assert ex["label_index"] == i % 3 and ex["label_string"] == f"class{i % 3}"
        assert ex["start_us"] == round(0.4 * i * 1e6)
        np.testing.assert_array_equal(ex["rgb_timestamps"], ex["start_us"] + 40_000 *
                                      np.arange(FRAMES))
    with open(summary.failures_path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert {r["media_id"]: r["reason"] for r in rows} == {
        "truncated.mp4": "truncated", "empty.mp4": "empty", "text.mp4": "unreadable",
        "missing.mp4": "missing"}


def test_interrupted_run_resumes_without_touching_finished_shards(tmp_path, monkeypatch):
    entries = _good_entries(6)
    out = str(tmp_path / "out")
    per_shard = shards.assign_shards(entries, 3)
    calls = {"n": 0}
    real = shards.process_video

    def dies_in_second_shard(entry, options):
        calls["n"] += 1
        if calls["n"] == len(per_shard[0]) + 1:
            raise KeyboardInterrupt  # the process is killed while writing shard 1
        return real(entry, options)

    monkeypatch.setattr(shards, "process_video", dies_in_second_shard)
    with pytest.raises(KeyboardInterrupt):
        shards.build_dataset(entries, out, name="x", num_shards=3, options=OPTIONS)
    monkeypatch.setattr(shards, "process_video", real)
    first = shards.shard_path(out, "x", 0, 3)
    second = shards.shard_path(out, "x", 1, 3)
    assert os.path.exists(first) and not os.path.exists(second)
    assert os.path.exists(second + ".incomplete")  # what a killed run leaves behind
    before = os.stat(first)

    summary = shards.build_dataset(entries, out, name="x", num_shards=3, options=OPTIONS)
    after = os.stat(first)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert summary.shards_skipped == 1 and summary.shards_written == 2
    assert summary.num_written == 6
    assert not [f for f in os.listdir(out) if f.endswith(".incomplete")]
    ids = [ex["media_id"] for shard in _read_dir(out).values() for ex in shard]
    assert sorted(ids) == sorted(e.media_id for e in entries)

    # A rerun with different storage options must not mix formats in one directory.
    with pytest.raises(provenance.SettingsMismatchError,
                       match=r"made with other settings \(short_side: 32 -> 48\).*--overwrite"):
        shards.build_dataset(entries, out, name="x", num_shards=3,
                             options=shards.IngestOptions(short_side=48))


def test_two_tasks_equal_one_task(tmp_path):
    entries = _good_entries(5)
    single = str(tmp_path / "single")
    options = shards.IngestOptions(short_side=32, flow=False)  # flow adds nothing to this check
    shards.build_dataset(entries, single, name="t", num_shards=4, options=options)
    # Each task writes its own directory (as on separate machines), so what each one wrote is
    # visible: disjoint shard sets, shard s from task s % 2, whose union is the single build.
    task_dirs = [str(tmp_path / f"task{k}") for k in range(2)]
    summaries = [shards.build_dataset(entries, task_dirs[k], name="t", num_shards=4,
                                      options=options, task_index=k, num_tasks=2)
                 for k in range(2)]
    assert [s.shards_total for s in summaries] == [2, 2]
    assert sum(s.num_written for s in summaries) == 5
    task_bytes = [_shard_bytes(d) for d in task_dirs]
    assert [sorted(b) for b in task_bytes] == [
        ["t-00000-of-00004.tfrecord", "t-00002-of-00004.tfrecord"],
        ["t-00001-of-00004.tfrecord", "t-00003-of-00004.tfrecord"]]
    assert {**task_bytes[0], **task_bytes[1]} == _shard_bytes(single)
    ids = [ex["media_id"] for d in task_dirs for shard in _read_dir(d).values() for ex in shard]
    assert sorted(ids) == sorted(e.media_id for e in entries)
    assert os.path.exists(os.path.join(task_dirs[1], "t-failures-task-00001-of-00002.tsv"))


def test_every_video_failing_is_reported(tmp_path):
    summary = shards.build_dataset(_bad_entries(tmp_path), str(tmp_path / "o"), name="b",
                                   num_shards=2, options=OPTIONS)
    assert summary.all_failed and summary.num_failed == 4
    # Empty shards are still written, so the shard set is complete for readers.
    assert sorted(_shard_bytes(tmp_path / "o")) == ["b-00000-of-00002.tfrecord",
                                                     "b-00001-of-00002.tfrecord"]


def test_shards_count_as_finished_only_with_the_videos_the_manifest_assigns(tmp_path):
    # Issue 17: a run on a wrong (here: too small) manifest must not block the fixed rerun.
    options = shards.IngestOptions(short_side=32, flow=False)
    out = str(tmp_path / "out")
    first = shards.build_dataset(_good_entries(1), out, name="x", num_shards=2, options=options,
                                 shuffle_seed=None)
    assert first.num_written == 1
    # Manifest order: shard 0 holds vid00 in both runs; shard 1 was empty and now gets vid01.
    kept = os.stat(shards.shard_path(out, "x", 0, 2))
    fixed = shards.build_dataset(_good_entries(2), out, name="x", num_shards=2, options=options,
                                 shuffle_seed=None)
    assert fixed.num_written == 2 and (fixed.shards_written, fixed.shards_skipped) == (1, 1)
    ids = sorted(ex["media_id"] for shard in _read_dir(out).values() for ex in shard)
    assert ids == ["vid00", "vid01"]
    after = os.stat(shards.shard_path(out, "x", 0, 2))
    assert (after.st_ino, after.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns)
    # A rerun with the same manifest keeps every shard.
    again = shards.build_dataset(_good_entries(2), out, name="x", num_shards=2, options=options,
                                 shuffle_seed=None)
    assert again.shards_skipped == 2 and again.shards_written == 0 and again.num_written == 2


def test_skip_rgb_stores_flow_only(tmp_path):
    options = shards.IngestOptions(short_side=32, rgb=False)
    payload, frames = shards.process_video(_good_entries(1)[0], options)
    ex = sequence.parse_sequence_example(payload)
    assert frames == FRAMES and ex["rgb"] is None and ex["flow"].shape[0] == FRAMES - 1
    with pytest.raises(ValueError, match="nothing to store"):
        shards.IngestOptions(rgb=False, flow=False)


def test_fps_short_side_bound_and_skip_flow_are_honoured():
    entry = _good_entries(1)[0]  # cup.mp4, 0.32 s
    payload, frames = shards.process_video(entry, shards.IngestOptions(
        fps=12.5, short_side=40, flow=False, jpeg_quality=50))
    ex = sequence.parse_sequence_example(payload)
    assert frames == 4 and ex["rgb"].shape == (4, 40, 53, 3) and ex["flow"] is None
    assert ex["fps"] == pytest.approx(12.5)
    np.testing.assert_array_equal(np.diff(ex["rgb_timestamps"]), 80_000)
    moving = VideoEntry(path=str(VIDEOS / "bikes.mp4"), media_id="m", start_s=1.0, end_s=1.12)
    payload, _ = shards.process_video(moving, shards.IngestOptions(short_side=48,
                                                                   flow_bound=0.5))
    flow = sequence.parse_sequence_example(payload, flow_bound=0.5)["flow"]
    assert np.abs(flow).max() == pytest.approx(0.5)


@pytest.mark.slow
def test_two_worker_processes_write_the_same_shards(tmp_path):
    entries = _good_entries(4)
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    shards.build_dataset(entries, one, name="w", num_shards=2, options=OPTIONS)
    summary = shards.build_dataset(entries, two, name="w", num_shards=2, options=OPTIONS,
                                   num_workers=2)
    assert summary.num_written == 4 and summary.num_frames == 4 * FRAMES
    assert _shard_bytes(two) == _shard_bytes(one)


def test_rerun_with_another_num_shards_stops_or_replaces_the_old_set(tmp_path):
    # Reviewer finding: a rerun with another --num_shards left both shard sets in the folder, so
    # `<name>-*.tfrecord` read every video twice.
    options = shards.IngestOptions(short_side=32, flow=False)
    out = str(tmp_path / "out")
    shards.build_dataset(_good_entries(2), out, name="x", num_shards=2, options=options)
    before = sorted(os.listdir(out))
    with pytest.raises(provenance.SettingsMismatchError,
                       match=r"x-\*-of-00002\.tfrecord .*num_shards: 2 -> 3.*--overwrite"):
        shards.build_dataset(_good_entries(2), out, name="x", num_shards=3, options=options)
    assert sorted(os.listdir(out)) == before  # refused: nothing written or deleted
    # Another task split of the same shard count names the same shards: no second set.
    split = shards.build_dataset(_good_entries(2), out, name="x", num_shards=2, options=options,
                                 task_index=1, num_tasks=2)
    assert split.shards_skipped == 1 and split.shards_written == 0
    # --overwrite deletes the old set (shards and meta files) and builds the new one.
    summary = shards.build_dataset(_good_entries(2), out, name="x", num_shards=3,
                                   options=options, overwrite=True)
    assert summary.num_written == 2
    assert not [n for n in os.listdir(out) if "-of-00002.tfrecord" in n or "-of-00002.meta" in n]
    assert sorted(_read_dir(out)) == [f"x-{s:05d}-of-00003.tfrecord" for s in range(3)]
    ids = sorted(ex["media_id"] for shard in _read_dir(out).values() for ex in shard)
    assert ids == ["vid00", "vid01"]
    # Another name's shards in the same folder are not this set's business.
    shards.build_dataset(_good_entries(1), out, name="y", num_shards=1, options=options)
    assert os.path.exists(shards.shard_path(out, "x", 0, 3))


@pytest.mark.parametrize("options, build, fragment", [
    ({"fps": -5}, {}, "--fps=-5: expected > 0"),
    ({"flow_bound": 0}, {}, "--flow_bound=0: expected > 0"),
    ({"short_side": -1}, {}, "--short_side=-1: expected >= 0"),
    ({"jpeg_quality": 500}, {}, "--jpeg_quality=500: expected 1-100"),
    ({"jpeg_quality": 0}, {}, "--jpeg_quality=0: expected 1-100"),
    ({"flow_batch": 0}, {}, "--flow_batch=0: expected >= 1"),
    ({"rgb": False, "flow": False}, {}, "--skip_rgb and --skip_flow together"),
    ({}, {"num_shards": 0}, "--num_shards=0: expected >= 1"),
    ({}, {"num_workers": 0}, "--num_workers=0: expected >= 1"),
    ({}, {"num_tasks": 0}, "--num_tasks=0: expected >= 1"),
    ({}, {"task_index": 3, "num_tasks": 2}, "--task_index=3: expected 0-1"),
    ({}, {"task_index": -1, "num_tasks": 2}, "--task_index=-1: expected 0-1"),
    ({}, {"task_index": 1, "num_tasks": 2, "num_shards": 1}, "this task gets no shard"),
])
def test_bad_values_are_user_errors_before_anything_is_written(tmp_path, options, build,
                                                               fragment):
    out = tmp_path / "out"
    with pytest.raises(UserError) as raised:
        shards.build_dataset(_good_entries(1), str(out), name="x",
                             **{"num_shards": 1, **build},
                             options=shards.IngestOptions(**{"flow": False, **options}))
    assert fragment in str(raised.value) and "\n" not in str(raised.value)
    assert not out.exists()
