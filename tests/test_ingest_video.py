"""kinetics_i3d.ingest.video: timestamp resampling, short-side resize, spans, bad files."""
import cv2
import numpy as np
import pytest

import video_files
from conftest import VIDEOS
from kinetics_i3d.ingest import video

# From ../shared/fixtures/videos/README.md: (fps, frames OpenCV decodes).
CLIPS = {
    "carphone_pristine.mp4": (29.97, 120, (144, 176)),
    "bikes.mp4": (25.0, 250, (272, 640)),
    "cup.mp4": (26.78, 217, (480, 640)),
    "box.mp4": (29.97, 455, (480, 640)),
}


@pytest.fixture(scope="module")
def decoded():
    return {name: video.read_video(VIDEOS / name, fps=25.0, short_side=256) for name in CLIPS}


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_frame_count_is_duration_times_25(decoded, name):
    fps, frames, (h, w) = CLIPS[name]
    clip = decoded[name]
    duration = frames / fps
    assert abs(clip.rgb.shape[0] - duration * 25) <= 1.0
    np.testing.assert_array_equal(clip.timestamps_us, clip.start_us + 40_000 *
                                  np.arange(clip.rgb.shape[0]))
    # Short side 256, aspect kept to within rounding of one pixel.
    out_h, out_w = clip.rgb.shape[1:3]
    assert min(out_h, out_w) == 256
    assert abs(max(out_h, out_w) - max(h, w) * 256 / min(h, w)) <= 0.5
    assert (clip.source_height, clip.source_width) == (h, w)
    assert clip.rgb.dtype == np.uint8


def test_25fps_source_is_identity_and_resize_is_bilinear(decoded):
    clip = decoded["bikes.mp4"]
    cap = cv2.VideoCapture(str(VIDEOS / "bikes.mp4"))
    for index in range(8):
        ok, bgr = cap.read()
        assert ok
    expected = cv2.resize(bgr, (602, 256), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(clip.rgb[7], expected[..., ::-1])


def test_2997_source_drops_one_frame_in_six(decoded):
    # carphone: 120 source frames at 29.97 -> 101 output frames; consecutive output frames that
    # are identical would mean a repeated source frame, which must not happen when downsampling.
    clip = decoded["carphone_pristine.mp4"]
    diffs = [np.abs(clip.rgb[k + 1].astype(int) - clip.rgb[k]).mean()
             for k in range(clip.rgb.shape[0] - 1)]
    assert min(diffs) > 0


def test_resample_indices_drop_and_repeat():
    src = np.arange(120) / 29.97
    idx, times = video.resample_indices(src, 25.0, 0.0, 120 / 29.97)
    assert len(idx) == 101 and np.all(np.diff(idx) >= 1) and idx.max() <= 119
    assert np.sum(np.diff(idx) == 2) >= 15  # ~1 of 6 source frames dropped
    np.testing.assert_allclose(np.diff(times), 0.04)
    # 15 fps -> 25 fps: every source frame used, some repeated.
    idx, _ = video.resample_indices(np.arange(30) / 15.0, 25.0, 0.0, 2.0)
    assert len(idx) == 50 and set(idx.tolist()) == set(range(30))
    # The frame on screen: output time 0.08 s shows source frame 2 (0.0667 s), not 3 (0.1 s);
    # 0.12 s shows frame 3 (0.1 s); a 29.97 fps grid in ms-rounded times still hits exactly.
    idx, _ = video.resample_indices(np.arange(30) / 30.0, 25.0, 0.0, 1.0)
    np.testing.assert_array_equal(idx[:5], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(idx[5:7], [6, 7])
    idx, _ = video.resample_indices(np.array([0.0, 0.040, 0.080]) + 5e-5, 25.0, 0.0, 0.12)
    np.testing.assert_array_equal(idx, [0, 1, 2])


def test_start_end_cut_matches_the_full_decode():
    full = video.read_video(VIDEOS / "cup.mp4", short_side=64)
    cut = video.read_video(VIDEOS / "cup.mp4", short_side=64, start_s=3.0, end_s=5.5)
    assert cut.rgb.shape[0] == 63  # ceil(2.5 s * 25)
    assert cut.start_us == 3_000_000 and cut.end_us == 5_500_000
    assert cut.timestamps_us[0] == 3_000_000
    np.testing.assert_array_equal(cut.rgb, full.rgb[75:75 + 63])
    # Frame 0 is not decoded for a later span; the source size still is the decoded one.
    assert (cut.source_height, cut.source_width) == (full.source_height, full.source_width) == (
        480, 640)


def test_span_past_the_end_is_an_error():
    with pytest.raises(video.VideoDecodeError) as err:
        video.read_video(VIDEOS / "carphone_pristine.mp4", short_side=32, start_s=10.0,
                         end_s=12.0)
    assert err.value.reason == "no_frames"


def test_bad_files_raise_with_reasons(tmp_path):
    data = (VIDEOS / "cup.mp4").read_bytes()  # moov atom first, so a cut file still opens
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    (tmp_path / "moov_last.mp4").write_bytes((VIDEOS / "bikes.mp4").read_bytes()[:100_000])
    expected = {"truncated.mp4": "truncated", "empty.mp4": "empty", "text.mp4": "unreadable",
                "moov_last.mp4": "unreadable", "missing.mp4": "missing"}
    for name, reason in expected.items():
        with pytest.raises(video.VideoDecodeError) as err:
            video.read_video(tmp_path / name, short_side=32)
        assert err.value.reason == reason, name
        assert name in str(err.value)


def test_keep_source_size_and_resized_shape():
    clip = video.read_video(VIDEOS / "carphone_pristine.mp4", short_side=0, end_s=0.2)
    assert clip.rgb.shape == (5, 144, 176, 3)
    assert video.resized_shape(480, 640, 256) == (256, 341)
    assert video.resized_shape(640, 480, 256) == (341, 256)
    assert video.resized_shape(272, 640, 256) == (256, 602)


def _source_levels(clip: video.Clip) -> list[int]:
    """Index of the generated source frame each output frame shows (by its grey level)."""
    levels = np.array([video_files.level(i) for i in range(14)])
    return [int(np.argmin(np.abs(levels - frame.mean()))) for frame in clip.rgb]


def test_variable_frame_rate_mkv_is_resampled_by_pts(tmp_path):
    # 25 frames 40 ms apart, then 25 frames 80 ms apart (the last shown 80 ms): 3.0 s while the
    # stream says 25 fps. Matroska lists no frame count; OpenCV estimates 74 and the old decoder
    # called the file truncated. By pts: 75 output frames; output k (t = 40k ms) shows frame k
    # for k < 25, then frame 25 + (t - 1000) // 80.
    times = [40 * i for i in range(25)] + [1000 + 80 * i for i in range(25)]
    path = video_files.write_video(tmp_path / "vfr.mkv", video_files.grey_frames(50), times,
                                   last_duration_ms=80)
    clip = video.read_video(path, short_side=None)
    assert clip.rgb.shape == (75, 32, 48, 3) and clip.end_us == 3_000_000
    expected = [k if k < 25 else 25 + (40 * k - 1000) // 80 for k in range(75)]
    assert _source_levels(clip) == [e % 14 for e in expected]
    assert clip.source_num_frames == 50


def test_slow_ending_stream_keeps_its_last_frames(tmp_path):
    # 15 frames at 40 ms then 15 at 120 ms: 2.4 s, 60 output frames. The last frame lasts 120 ms
    # (its packet duration), not the median interval (40 ms: 58 frames).
    times = [40 * i for i in range(15)] + [600 + 120 * i for i in range(15)]
    path = video_files.write_video(tmp_path / "slow.mp4", video_files.grey_frames(30), times,
                                   last_duration_ms=120)
    clip = video.read_video(path, short_side=None)
    assert clip.rgb.shape[0] == 60 and clip.end_us == 2_400_000
    assert _source_levels(clip)[-3:] == [29 % 14] * 3


@pytest.mark.parametrize("clockwise_turns, marker", [(1, "top right"), (3, "bottom left")])
def test_rotated_mp4_comes_out_upright(tmp_path, clockwise_turns, marker):
    # A phone's portrait video: stored landscape (32 x 48, white marker at the stored top-left),
    # display matrix of a clockwise quarter turn (90) or three (270). A player shows it 48 x 32,
    # the marker at the top-right (90) or bottom-left (270); the short side resizes to 256.
    image = np.zeros((32, 48, 3), np.uint8)
    image[:8, :8] = 255
    path = video_files.write_video(tmp_path / "phone.mp4", [image] * 3, [0, 40, 80],
                                   last_duration_ms=40)
    video_files.rotate_mp4(path, clockwise_turns)
    clip = video.read_video(path, short_side=None)
    assert clip.rgb.shape == (3, 48, 32, 3)
    assert (clip.source_height, clip.source_width) == (48, 32)
    y, x = np.argwhere(clip.rgb[0, ..., 0] > 128).mean(axis=0)
    assert (y < 24, x >= 16) == {"top right": (True, True), "bottom left": (False, False)}[marker]
    resized = video.read_video(path, short_side=256)
    assert resized.rgb.shape[1:3] == (384, 256)


def damaged_files(tmp_path):
    """{name: reason} for generated bad files (shared with the feature-extraction test)."""
    full = video_files.write_video(tmp_path / "full.avi", video_files.grey_frames(40),
                                   [40 * i for i in range(40)], codec="mjpeg",
                                   pix_fmt="yuvj420p")
    data = full.read_bytes()
    (tmp_path / "truncated.avi").write_bytes(data[: len(data) // 2])  # header: 40 frames
    full.unlink()
    (tmp_path / "empty.mp4").write_bytes(b"")
    video_files.write_audio_only(tmp_path / "audio_only.mp4")
    return {"truncated.avi": "truncated", "empty.mp4": "empty", "audio_only.mp4": "unreadable"}


def test_generated_bad_files_raise_with_reasons(tmp_path):
    for name, reason in damaged_files(tmp_path).items():
        with pytest.raises(video.VideoDecodeError) as err:
            video.read_video(tmp_path / name, short_side=32)
        assert err.value.reason == reason, name
    with pytest.raises(video.VideoDecodeError) as err:
        video.read_video(tmp_path / "audio_only.mp4")
    assert str(err.value).endswith("unreadable: no video stream (streams: audio)")


def test_streamed_frames_match_the_clip_and_count_first():
    path = VIDEOS / "carphone_pristine.mp4"
    clip = video.read_video(path, short_side=64)
    frames = video.VideoFrames(path, short_side=64)
    assert frames.num_frames == len(clip.rgb) == 101
    np.testing.assert_array_equal(np.stack(list(frames)), clip.rgb)
    first = video.VideoFrames(path, short_side=64, max_frames=7)
    assert len(first) == 7
    np.testing.assert_array_equal(np.stack(list(first)), clip.rgb[:7])


def test_out_of_order_pts_are_timed_by_sorted_pts():
    # box.mp4's decoder hands frames out in display order but with shuffled pts (0, 101, 67,
    # 134, 34 ms...): frame times are the sorted pts, non-decreasing, ~33 ms apart.
    times = np.array([f.time_s for f in video.decode_frames(VIDEOS / "box.mp4")])
    assert len(times) == 455 and np.all(np.diff(times) > 0.03) and np.all(np.diff(times) < 0.036)


def test_fixture_clips_keep_the_opencv_era_counts_and_box_follows_pts(decoded):
    # Before issue 13 (OpenCV decoder) the four clips gave 101, 250, 203, 380 frames; the PyAV
    # decoder gives the same counts and, for carphone/bikes/cup, the same frames. box.mp4 was
    # timed by index / 29.966 there; by its sorted pts now, outputs 146, 151, 297 show the source
    # frame before (its successor's pts is 1 ms after the output time; BUILD_NOTES.md).
    counts = {name: len(clip.rgb) for name, clip in decoded.items()}
    assert counts == {"carphone_pristine.mp4": 101, "bikes.mp4": 250, "cup.mp4": 203,
                      "box.mp4": 380}
    shown = {k: f.source for k, f in enumerate(video.resample(
        video.decode_frames(VIDEOS / "box.mp4"), 25.0)) if k in (145, 146, 151, 297)}
    assert [shown[k].index for k in (145, 146, 151, 297)] == [173, 174, 180, 355]
    for k in (146, 151, 297):
        assert shown[k].time_s <= 0.04 * k < shown[k].time_s + shown[k].duration_s
        assert shown[k].time_s + shown[k].duration_s - 0.04 * k < 0.002
