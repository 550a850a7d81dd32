"""tools/build_tfrecords.py: the command line end to end (Kinetics CSV in, shards out, exit code)."""
import os
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

from conftest import VIDEOS
from kinetics_i3d.ingest import sequence

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
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
