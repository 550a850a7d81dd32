"""The temporal-interface table against the paper's Table 1 and the model registry."""
import pytest

from kinetics_i3d import models
from kinetics_i3d import specs as interfaces

FPS = 25  # the stored frame rate (paper sec. 2.4: "processed at 25 frames per second")

# Table 1: (training rgb, training flow, training footprint s, test rgb, test flow, test s).
TABLE_1 = {
    "convnet_lstm": (25, 0, 5.0, 50, 0, 10.0),
    "c3d": (16, 0, 0.64, 240, 0, 9.6),
    "two_stream": (1, 10, 0.4, 25, 250, 10.0),
    "fused_two_stream": (5, 50, 2.0, 25, 250, 10.0),
    "i3d": (64, 64, 2.56, None, None, None),  # test: the whole video
}


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_frame_counts_and_footprints_match_table_1(name):
    interface = interfaces.get_interface(name)
    rgb, flow, seconds, test_rgb, test_flow, test_seconds = TABLE_1[name]
    assert (interface.train.num_rgb, interface.train.num_flow) == (rgb, flow)
    # A footprint of N frames spans N / 25 s; one-in-five sampling spans 5 frames per sample.
    assert interface.train.footprint == pytest.approx(seconds * FPS, abs=5)
    if test_rgb is None:
        assert interface.test.whole_video
    else:
        test = interface.test
        assert (test.num_rgb, test.num_flow) == (test_rgb, test_flow)
        span = test.footprint if test.snapshot_stride is None else (
            test.snapshot_stride * (test.num_snapshots - 1) + test.footprint)
        if test.num_snapshots > 1 and test.snapshot_stride is None:
            span = test.num_snapshots * test.footprint  # evenly spaced over a 10 s clip
        assert span == pytest.approx(test_seconds * FPS, abs=5)


# The paper's models (a model added later has its own facts, and is not held to these).
PAPER_MODELS = ("i3d", "two_stream_i3d", "convnet_lstm", "c3d", "two_stream", "fused_two_stream")


def test_layouts_group_frames_as_the_models_take_them_and_crops_follow_the_paper():
    # (That a layout holds its frames is `Sampling`'s own check; test_bad_names_and_layouts_raise.)
    for name in PAPER_MODELS:
        interface = interfaces.get_interface(name)
        assert interface.crop_size == (112 if name == "c3d" else 224)
        for sampling in (interface.train, interface.test):
            if name in ("two_stream", "fused_two_stream"):
                # One 10-frame flow snippet per RGB frame; Two-Stream: one RGB frame a snapshot.
                assert sampling.flow_layout == (sampling.num_rgb, 10)
                if name == "two_stream":
                    assert sampling.rgb_layout == (sampling.num_snapshots,)
            elif name == "c3d" and sampling.num_snapshots > 1:
                assert sampling.rgb_layout == (sampling.num_snapshots, 16)  # one clip a row
            else:
                assert sampling.rgb_layout is None and sampling.flow_layout is None  # [T, ...]
    # Two-Stream and 3D-Fused group flow in 10-frame snippets, one per RGB frame.
    assert interfaces.get_interface("two_stream").test.flow_layout == (25, 10)
    assert interfaces.get_interface("fused_two_stream").train.flow_layout == (5, 10)


def test_fused_flow_snippets_are_centred_on_their_rgb_frames():
    train = interfaces.get_interface("fused_two_stream").train
    snippets = [train.flow_offsets[k * 10:(k + 1) * 10] for k in range(5)]
    for rgb, snippet in zip(train.rgb_offsets, snippets):
        assert snippet[0] == rgb - 5 and snippet[-1] == rgb + 4


def test_every_paper_video_model_is_registered_with_an_interface():
    assert set(PAPER_MODELS) <= set(interfaces.video_names())
    assert "inception_v1" in models.names() and "inception_v1" not in interfaces.video_names()


def test_bad_names_and_layouts_raise():
    with pytest.raises(ValueError, match="unknown temporal interface 'i4d'"):
        interfaces.get_interface("i4d")
    with pytest.raises(ValueError, match="rgb_layout"):
        interfaces.Sampling(rgb_offsets=(0, 1, 2), rgb_layout=(2,))
    with pytest.raises(ValueError, match="split must be"):
        interfaces.get_interface("i3d").sampling("val")
