"""tools/build_tfrecords.py: the command line end to end (Kinetics CSV in, shards out, exit code)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

import kinetics_i3d
from conftest import VIDEOS
from kinetics_i3d import labels
from kinetics_i3d.ingest import sequence

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(REPO / "tools" / "build_tfrecords.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_kinetics_csv_with_bad_videos_exits_zero_then_all_bad_exits_one(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    # Whole videos (cut here with --nokinetics_trimmed) named <youtube_id>.mp4.
    os.symlink(VIDEOS / "carphone_pristine.mp4", videos / "good1.mp4")
    os.symlink(VIDEOS / "cup.mp4", videos / "good2.mp4")
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "text.mp4").write_text("hello\n")
    csv_path = tmp_path / "k.csv"
    csv_path.write_text("label,youtube_id,time_start,time_end,split\n"
                        "abseiling,good1,1,1.2,train\nbowling,good2,2,2.2,train\n"
                        "abseiling,empty,0,10,train\nbowling,text,0,10,train\n"
                        "bowling,missing,0,10,train\n")
    out = tmp_path / "out"
    common = [f"--manifest={csv_path}", f"--video_root={videos}", "--nokinetics_trimmed",
              "--short_side=32", "--flow_format=jpeg", "--num_shards=2", "--name=val"]
    proc = _run(*common, f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 of 5 videos written, 3 failed" in proc.stdout
    assert "videos/s" in proc.stderr and "frames/s" in proc.stderr  # the progress line
    failures = (out / "val-failures.tsv").read_text().splitlines()
    assert len(failures) == 4 and {line.split("\t")[2] for line in failures[1:]} == {
        "empty", "unreadable", "missing"}
    examples = [sequence.parse_sequence_example(r.numpy()) for n in ("00000", "00001")
                for r in tf.data.TFRecordDataset(str(out / f"val-{n}-of-00002.tfrecord"))]
    by_id = {ex["media_id"]: ex for ex in examples}
    assert sorted(by_id) == ["good1", "good2"]
    assert by_id["good2"]["start_us"] == 2_000_000 and by_id["good2"]["rgb"].shape[0] == 5
    assert by_id["good2"]["flow_format"] == "jpeg"
    assert by_id["good1"]["label_index"] == 0 and by_id["good2"]["label_string"] == "bowling"

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("label,youtube_id,time_start,time_end,split\n"
                       "abseiling,empty,0,10,train\nbowling,missing,0,10,train\n")
    proc = _run(f"--manifest={bad_csv}", f"--video_root={videos}", "--skip_flow",
                f"--output_dir={tmp_path / 'bad_out'}", "--num_shards=1")
    assert proc.returncode == 1
    assert "0 of 2 videos written, 2 failed" in proc.stdout


def test_subset_csv_gets_release_indices_provenance_and_refuses_changed_settings(tmp_path):
    """Issue #16: a 3-class Kinetics CSV without --label_map is numbered by the shipped
    Kinetics-400 map (zumba = 399), and the output says which map and settings made it."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for vid, source in (("a", "carphone_pristine.mp4"), ("b", "cup.mp4"), ("z", "box.mp4")):
        os.symlink(VIDEOS / source, videos / f"{vid}.mp4")
    csv_path = tmp_path / "subset.csv"
    csv_path.write_text("label,youtube_id,time_start,time_end,split\n"
                        "abseiling,a,0,0.2,val\nair drumming,b,0,0.2,val\nzumba,z,0,0.2,val\n")
    out = tmp_path / "out"
    common = [f"--manifest={csv_path}", f"--video_root={videos}", "--nokinetics_trimmed",
              "--skip_flow", "--num_shards=1", "--name=val", f"--output_dir={out}"]
    proc = _run(*common, "--short_side=32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "shipped Kinetics-400 map" in proc.stderr
    k400 = labels.default_label_map(400)
    digest = labels.label_map_hash(k400)
    examples = {ex["media_id"]: ex for ex in (
        sequence.parse_sequence_example(r.numpy())
        for r in tf.data.TFRecordDataset(str(out / "val-00000-of-00001.tfrecord")))}
    assert {k: (ex["label_index"], ex["label_string"]) for k, ex in examples.items()} == {
        "a": (0, "abseiling"), "b": (1, "air drumming"), "z": (399, "zumba")}
    assert {ex["label_map_sha256"] for ex in examples.values()} == {digest}
    assert examples["z"]["rgb"].shape[1] == 32
    # The label map beside the shards, in the shipped file's format (issue #17 copies it on).
    assert (out / "val-label_map.txt").read_text() == labels.KINETICS_400.read_text()
    dataset = json.loads((out / "val-dataset.json").read_text())
    assert dataset["label_map"]["names"] == k400 and dataset["label_map"]["sha256"] == digest
    assert dataset["label_map"]["source"] == str(labels.KINETICS_400)
    assert dataset["package_version"] == kinetics_i3d.__version__
    assert dataset["options"]["fps"] == 25.0 and dataset["options"]["short_side"] == 32
    assert dataset["options"]["flow"] is False and dataset["options"]["jpeg_quality"] == 90
    assert {"flow_backend", "flow_bound", "flow_format"} <= set(dataset["options"])
    assert (dataset["num_videos"], dataset["num_written"], dataset["num_failed"]) == (3, 3, 0)
    assert dataset["failures_path"] == str(out / "val-failures.tsv")

    # A rerun with another short side stops, names the difference and offers --overwrite.
    proc = _run(*common, "--short_side=40")
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "short_side: 32 -> 40" in error
    assert "--overwrite" in error
    proc = _run(*common, "--short_side=40", "--overwrite")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rebuilt = [sequence.parse_sequence_example(r.numpy())
               for r in tf.data.TFRecordDataset(str(out / "val-00000-of-00001.tfrecord"))]
    assert {ex["rgb"].shape[1] for ex in rebuilt} == {40}
    assert json.loads((out / "val-dataset.json").read_text())["options"]["short_side"] == 40
