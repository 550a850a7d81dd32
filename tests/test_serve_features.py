"""Feature extraction on real clips: shapes, resume, bad inputs (kinetics_i3d.serve.features)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import video_files
from conftest import REPO_ROOT, VIDEOS, random_release_values
from test_ingest_video import damaged_files
from kinetics_i3d.checkpoints import export_released, write_checkpoint
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest.video import VideoDecodeError, VideoFrames, read_video
from kinetics_i3d.serve import features
from kinetics_i3d.serve.chunked import ChunkedI3D
from kinetics_i3d.serve.streams import ClassCountError, load_stream

SMALL = features.InputSize(fps=25.0, short_side=64, crop_size=64)
CLIPS = ["bikes.mp4", "carphone_pristine.mp4"]


@pytest.fixture(scope="module")
def rgb_model():
    tf.keras.utils.set_random_seed(4)
    return load_stream("rgb", None, num_classes=5)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """Two real clips, a file that is not a video, and a real 5-frame video (too short)."""
    root = tmp_path_factory.mktemp("videos")
    for name in CLIPS:
        shutil.copy(VIDEOS / name, root / name)
    (root / "broken.mp4").write_bytes(b"this is not a video")
    video_files.write_video(root / "short.avi", video_files.grey_frames(5, 80, 96),
                            [40 * i for i in range(5)], codec="mjpeg", pix_fmt="yuvj420p")
    return root


def test_bad_files_get_the_decoders_reasons(rgb_model, tmp_path):
    # The same reasons as ingest (tests/test_ingest_video.py), in the feature index: a truncated
    # AVI is not "ok" with fewer frames, a zero-byte file is "empty", audio only "unreadable".
    videos = tmp_path / "videos"
    videos.mkdir()
    expected = damaged_files(videos)
    for name in expected:
        with pytest.raises(VideoDecodeError) as err:
            read_video(videos / name, short_side=32)
        assert err.value.reason == expected[name]
    paths = features.find_videos(str(videos))
    items = features.file_items(paths, str(videos), ["rgb"], SMALL)
    summary = features.extract_features(items, {"rgb": ChunkedI3D(rgb_model)},
                                        str(tmp_path / "out"))
    assert summary.failed == 3 and summary.done == 0
    got = {os.path.basename(r["source"]): r["reason"] for r in summary.failures}
    assert got == expected
    index = features.read_index(str(tmp_path / "out"))
    assert index["audio_only"]["detail"] == "no video stream (streams: audio)"


@pytest.mark.parametrize("options, flag", [
    (dict(size=features.InputSize(crop_size=0)), "--crop_size=0"),
    (dict(size=features.InputSize(short_side=64, crop_size=96)), "--crop_size=96"),
    (dict(size=features.InputSize(short_side=0, crop_size=0)), "--short_side=0"),
    (dict(size=features.InputSize(fps=0.0)), "--fps=0.0"),
    (dict(size=SMALL, chunk_steps=0), "--chunk_steps=0"),
    (dict(size=SMALL, max_frames=-4), "--max_frames=-4"),
    (dict(size=SMALL, max_frames=5), "--max_frames=5"),
    (dict(size=SMALL, min_frames=0), "--min_frames=0"),
])
def test_options_no_video_could_use_are_user_errors(options, flag):
    """Reviewer: --crop_size=0 / --chunk_steps=0 / --max_frames=-4 were reported per video as
    "error: Graph execution error" or "too_short: 0 rgb frames" instead of one flag error."""
    with pytest.raises(UserError) as err:
        features.check_options(**options)
    assert str(err.value).startswith(flag + ": expected")
    features.check_options(SMALL, max_frames=9, min_frames=9, chunk_steps=1)  # the limits pass


def test_settings_of_a_folder_without_features_bind_nothing(rgb_model, video_dir, tmp_path):
    """Reviewer: a run whose every video failed left settings.json behind, and the corrected
    rerun stopped with "made with other settings ... rerun with --overwrite" though the folder
    held no feature file."""
    out = str(tmp_path / "features")
    runners = {"rgb": ChunkedI3D(rgb_model)}
    broken = [str(video_dir / "broken.mp4")]
    first = dict(features.feature_settings({"rgb": None}, "mean", SMALL), crop_size=48)
    summary = features.extract_features(
        features.file_items(broken, None, ["rgb"], SMALL), runners, out, settings=first)
    assert (summary.done, summary.failed) == (0, 1)
    assert os.path.exists(os.path.join(out, "settings.json"))
    assert features.check_settings(out, features.feature_settings({"rgb": None}, "mean",
                                                                  SMALL)) == []

    clip = [str(video_dir / "carphone_pristine.mp4")]
    second = features.feature_settings({"rgb": None}, "mean", SMALL, max_frames=16)
    summary = features.extract_features(
        features.file_items(clip, None, ["rgb"], SMALL, max_frames=16), runners, out,
        settings=second)
    assert (summary.done, summary.failed) == (1, 0)
    stored = json.loads(open(os.path.join(out, "settings.json")).read())["settings"]
    assert stored["crop_size"] == SMALL.crop_size and stored["max_frames"] == 16
    assert sorted(features.read_index(out)) == ["carphone_pristine"]  # old failure dropped
    # Now the folder holds features: other settings stop again.
    with pytest.raises(UserError, match="crop_size: 64 -> 48"):
        features.extract_features(iter(()), runners, out, settings=dict(second, crop_size=48))


def test_folder_extraction_shapes_resume_and_failures(rgb_model, video_dir, tmp_path):
    runner = ChunkedI3D(rgb_model, chunk_steps=2)
    paths = features.find_videos(str(video_dir))
    assert [os.path.basename(p) for p in paths] == ["bikes.mp4", "broken.mp4",
                                                   "carphone_pristine.mp4", "short.avi"]
    out = tmp_path / "features"

    def run(pooling="mean", where=out):
        items = features.file_items(paths, str(video_dir), ["rgb"], SMALL, max_frames=40)
        return features.extract_features(items, {"rgb": runner}, str(where), pooling=pooling,
                                         total=len(paths))

    summary = run()
    assert (summary.done, summary.skipped, summary.failed) == (2, 0, 2)
    reasons = {r["video_id"]: r["reason"] for r in summary.failures}
    assert reasons == {"broken": "unreadable", "short": "too_short"}
    assert sorted(os.listdir(out)) == ["bikes_rgb.npy", "carphone_pristine_rgb.npy", "index.csv",
                                       "index.jsonl", "settings.json"]
    for clip in ("bikes", "carphone_pristine"):
        feats = np.load(out / f"{clip}_rgb.npy")
        assert feats.shape == (1024,) and feats.dtype == np.float32 and np.isfinite(feats).all()
    # The documented pooling: mean over T', H', W' of Mixed_5c of the preprocessed frames.
    stream = VideoFrames(video_dir / "bikes.mp4", 25.0, 64, max_frames=40)
    x = np.stack(list(features.network_frames(stream, "rgb", SMALL)))
    mixed_5c = ChunkedI3D(rgb_model)._trunk(x[None]).numpy()[0]
    np.testing.assert_allclose(np.load(out / "bikes_rgb.npy"), mixed_5c.mean(axis=(0, 1, 2)),
                               rtol=1e-4, atol=1e-7)
    index = features.read_index(str(out))
    assert index["bikes"]["files"]["rgb"] == {"path": "bikes_rgb.npy", "shape": [1024],
                                              "num_frames": 40}
    assert "index.csv" in os.listdir(out)

    # Rerun: finished videos are skipped (files untouched), failed ones retried and recorded.
    mtime = os.stat(out / "bikes_rgb.npy").st_mtime_ns
    summary = run()
    assert (summary.done, summary.skipped, summary.failed) == (0, 2, 2)
    assert os.stat(out / "bikes_rgb.npy").st_mtime_ns == mtime

    # Unpooled time series: [ceil(40 / 8), 1024]; full map: [5, 2, 2, 1024].
    run("time", out / "time")
    assert np.load(out / "time" / "bikes_rgb.npy").shape == (5, 1024)
    run("none", out / "none")
    full = np.load(out / "none" / "carphone_pristine_rgb.npy")
    assert full.shape == (5, 2, 2, 1024)
    np.testing.assert_allclose(np.load(out / "time" / "carphone_pristine_rgb.npy"),
                               full.mean(axis=(1, 2)), rtol=1e-4, atol=1e-7)


def test_flow_features_tiny(video_dir, tmp_path):
    tf.keras.utils.set_random_seed(5)
    flow_model = load_stream("flow", None, num_classes=5)
    tiny = features.InputSize(short_side=32, crop_size=32)
    items = features.file_items([str(video_dir / "carphone_pristine.mp4")], str(video_dir),
                                ["rgb", "flow"], tiny, max_frames=12)
    runners = {"flow": ChunkedI3D(flow_model)}
    summary = features.extract_features(items, runners, str(tmp_path))
    assert summary.done == 1
    rec = features.read_index(str(tmp_path))["carphone_pristine"]
    assert rec["files"]["flow"]["num_frames"] == 11  # T - 1 flow frames
    assert np.load(tmp_path / "carphone_pristine_flow.npy").shape == (1024,)


def test_checkpoint_with_wrong_class_count(rgb_model, tmp_path):
    prefix = write_checkpoint(export_released(rgb_model), str(tmp_path / "ckpt" / "model.ckpt"))
    with pytest.raises(ClassCountError, match=r"has 5 classes.*expected 400"):
        load_stream("rgb", prefix, num_classes=400)
    restored = load_stream("rgb", prefix)  # the count read from the checkpoint
    assert restored.num_classes == 5
    np.testing.assert_array_equal(restored.head.logits.conv.bias.numpy(),
                                  rgb_model.head.logits.conv.bias.numpy())


def write_shard(path, videos):
    """A MediaSequence shard of `(media_id, label, rgb uint8 [T, H, W, 3])` records."""
    from kinetics_i3d.ingest.sequence import make_sequence_example

    with tf.io.TFRecordWriter(str(path)) as writer:
        for media_id, label, rgb in videos:
            ex = make_sequence_example(rgb, None, fps=25.0, label_index=label,
                                       label_string=f"class {label}", media_id=media_id)
            writer.write(ex.SerializeToString())
    return str(path)


def test_shard_items(rgb_model, tmp_path):
    rgb = read_video(VIDEOS / "carphone_pristine.mp4", short_side=64).rgb
    shard = write_shard(tmp_path / "test.tfrecord",
                        [("vid/a", 1, rgb[:24]), ("b", 3, rgb[24:40])])
    items = list(features.shard_items(shard, ["rgb"], SMALL))
    assert [it.video_id for it in items] == ["vid_a", "b"]
    frames, n = items[0].frames["rgb"]()
    assert n == 24 and np.stack(list(frames)).shape == (24, 64, 64, 3)
    summary = features.extract_features(items, {"rgb": ChunkedI3D(rgb_model)},
                                        str(tmp_path / "out"), pooling="time")
    assert summary.done == 2
    assert np.load(tmp_path / "out" / "b_rgb.npy").shape == (2, 1024)


def _extract_cli(*args):
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "extract_features.py"),
                           *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))


def test_reruns_with_other_settings_stop_overwrite_and_add_modalities(tmp_path):
    """Issue #16: three runs into one --output_dir used to report "1 already done" and keep
    the first run's (1024,) vectors; the requested flow features were never written."""
    ckpt = {}
    for name, index, seed in (("a", "rgb_imagenet", 1), ("b", "rgb_imagenet", 2),
                              ("flow", "flow_imagenet", 3)):
        ckpt[name] = write_checkpoint(random_release_values(index, seed),
                                      str(tmp_path / name / "model.ckpt"))
    out = tmp_path / "features"
    common = [f"--video={VIDEOS / 'carphone_pristine.mp4'}", f"--output_dir={out}",
              "--short_side=32", "--crop_size=32", "--max_frames=16"]
    rgb_file = out / "carphone_pristine_rgb.npy"

    proc = _extract_cli(*common, f"--rgb_checkpoint={ckpt['a']}.index", "--pooling=mean")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.load(rgb_file).shape == (1024,)
    stored = json.loads((out / "settings.json").read_text())["settings"]
    assert stored["pooling"] == "mean"
    assert stored["streams"]["rgb"]["checkpoint"]["path"] == ckpt["a"]

    # Other pooling and checkpoint: stop, list both, offer --overwrite; nothing touched.
    proc = _extract_cli(*common, f"--rgb_checkpoint={ckpt['b']}", "--pooling=time")
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert error.startswith("error: the feature folder ") and "--overwrite" in error
    assert "pooling: 'mean' -> 'time'" in error
    assert f"streams.rgb.checkpoint.path: '{ckpt['a']}' -> '{ckpt['b']}'" in error
    assert np.load(rgb_file).shape == (1024,)

    proc = _extract_cli(*common, f"--rgb_checkpoint={ckpt['b']}", "--pooling=time",
                        "--overwrite")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 written, 0 already done" in proc.stdout
    assert np.load(rgb_file).shape == (2, 1024)  # ceil(16 / 8) steps
    rgb_mtime = os.stat(rgb_file).st_mtime_ns

    # Adding flow: only the flow file is computed; the RGB file stays.
    proc = _extract_cli(*common, f"--rgb_checkpoint={ckpt['b']}", "--pooling=time",
                        "--modalities=rgb,flow", f"--flow_checkpoint={ckpt['flow']}",
                        "--flow_backend=opencv")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 written, 0 already done" in proc.stdout
    assert np.load(out / "carphone_pristine_flow.npy").shape == (2, 1024)  # 15 flow frames
    assert os.stat(rgb_file).st_mtime_ns == rgb_mtime
    record = features.read_index(str(out))["carphone_pristine"]
    assert sorted(record["files"]) == ["flow", "rgb"]
    assert set(json.loads((out / "settings.json").read_text())["settings"]["streams"]) == {
        "rgb", "flow"}


def test_tool_extracts_the_models_pooled_features_from_a_video(rgb_model, tmp_path):
    """tools/extract_features.py --video at 32 px (short side and crop): the written mean-pooled
    Mixed_5c equals the model's, run here on frames this test decodes (OpenCV) and preprocesses
    (bilinear short side 32, centre crop 32, [-1, 1])."""
    import cv2
    from conftest import moving_texture_video
    from kinetics_i3d.models import InceptionI3d
    from kinetics_i3d.checkpoints import restore_released

    video = moving_texture_video(tmp_path / "moving.avi", num_frames=20)
    prefix = write_checkpoint(export_released(rgb_model), str(tmp_path / "rgb" / "model.ckpt"))
    out = tmp_path / "features"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "extract_features.py"), f"--video={video}",
         f"--rgb_checkpoint={prefix}", "--short_side=32", "--crop_size=32", "--pooling=mean",
         f"--output_dir={out}"],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out / "moving_rgb.npy")
    (record,) = [json.loads(line) for line in open(out / features.INDEX_JSONL)]
    assert record["status"] == "ok" and record["files"]["rgb"]["num_frames"] == 20

    capture = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (43, 32),  # 64x48 -> 43x32
                         interpolation=cv2.INTER_LINEAR)
        frames.append(rgb[:, 5:37])  # (43 - 32) // 2 = 5
    assert len(frames) == 20
    x = np.stack(frames).astype(np.float32)[None] / 127.5 - 1.0
    trunk = InceptionI3d(num_classes=5, final_endpoint="Mixed_5c")
    restore_released(trunk, prefix)
    expected = trunk(x, training=False).numpy()[0].mean(axis=(0, 1, 2))
    assert got.shape == expected.shape == (1024,)
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))
