"""SavedModel export: fresh-process reload, saved_model_cli, raw non-224 inputs (serve.export)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kinetics_i3d import preprocessing
from kinetics_i3d.serve import chunked, export
from kinetics_i3d.serve.streams import load_stream

NAMES = ["alpha", "beta", "gamma", "delta", "epsilon"]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One two-stream export (random weights, 5 classes) and raw inputs of non-224 sizes."""
    tf.keras.utils.set_random_seed(3)
    models = {"rgb": load_stream("rgb", None, 5), "flow": load_stream("flow", None, 5)}
    root = tmp_path_factory.mktemp("export")
    path = export.export_saved_model(str(root / "saved_model"), models, NAMES, top_k=3)
    rng = np.random.default_rng(0)
    raw = {
        "rgb": rng.integers(0, 256, (1, 10, 240, 320, 3)).astype(np.uint8),  # landscape
        "flow": rng.normal(0, 4, (1, 9, 200, 150, 2)).astype(np.float32),  # portrait
    }
    pre = {"rgb": preprocessing.network_input_rgb_tf(raw["rgb"]).numpy(),
           "flow": preprocessing.network_input_flow_tf(raw["flow"]).numpy()}
    for name, array in {**raw, **{f"pre_{k}": v for k, v in pre.items()}}.items():
        np.save(root / f"{name}.npy", array)
    per_stream = {m: models[m](pre[m], training=False).numpy() for m in models}
    features = chunked.run_trunk(models["rgb"], pre["rgb"]).numpy()
    return {"path": path, "root": root, "pre": pre, "models": models,
            "logits": per_stream["rgb"] + per_stream["flow"],
            "rgb_features": features}


def _scale_tol(reference):
    return 1e-5 * max(1.0, float(np.abs(reference).max()))


@pytest.mark.slow  # subprocess, 224 px
def test_fresh_process_gives_keras_logits(exported):
    root = exported["root"]
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        m = tf.saved_model.load({exported['path']!r})
        load = lambda n: tf.constant(np.load({str(root)!r} + '/' + n + '.npy'))
        out = m.signatures['serving_default'](rgb=load('rgb'), flow=load('flow'))
        pre = m.signatures['logits_preprocessed'](rgb=load('pre_rgb'), flow=load('pre_flow'))
        feats = m.signatures['features'](rgb=load('rgb'), flow=load('flow'))
        np.savez({str(root)!r} + '/fresh.npz', logits=out['logits'].numpy(),
                 probs=out['probabilities'].numpy(), idx=out['top_k_indices'].numpy(),
                 pre_logits=pre['logits'].numpy(), pooled=feats['rgb_mixed_5c_pooled'].numpy(),
                 series=feats['rgb_mixed_5c_time'].numpy())
        print(json.dumps([c.decode() for c in out['top_k_classes'].numpy()[0]]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(root / "fresh.npz")
    want = exported["logits"]
    np.testing.assert_allclose(got["logits"], want, atol=_scale_tol(want))
    np.testing.assert_allclose(got["pre_logits"], want, atol=_scale_tol(want))
    np.testing.assert_allclose(got["probs"], tf.nn.softmax(want).numpy(), atol=1e-6)
    order = np.argsort(-want[0])[:3]
    np.testing.assert_array_equal(got["idx"][0], order)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [NAMES[i] for i in order]
    feats = exported["rgb_features"]  # [1, 2, 7, 7, 1024]
    np.testing.assert_allclose(got["pooled"], feats.mean(axis=(1, 2, 3)), atol=_scale_tol(feats))
    np.testing.assert_allclose(got["series"], feats.mean(axis=(2, 3)), atol=_scale_tol(feats))
    assert got["series"].shape == (1, 2, 1024)


@pytest.mark.slow  # subprocess, 224 px
def test_saved_model_cli_run_on_npy(exported, tmp_path):
    root = exported["root"]
    cmd = ["saved_model_cli", "run", "--dir", exported["path"], "--tag_set", "serve",
           "--signature_def", "serving_default",
           "--inputs", f"rgb={root}/rgb.npy;flow={root}/flow.npy", "--outdir", str(tmp_path)]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logits = np.load(tmp_path / "logits.npy")
    np.testing.assert_allclose(logits, exported["logits"], atol=_scale_tol(exported["logits"]))
    classes = np.load(tmp_path / "top_k_classes.npy", allow_pickle=True)
    assert classes.shape == (1, 3) and classes[0, 0].decode() == NAMES[int(np.argmax(logits))]


@pytest.mark.slow  # shares the 224 px export
def test_logits_preprocessed_rejects_input_outside_unit_range(exported):
    loaded = tf.saved_model.load(exported["path"])
    fn = loaded.signatures["logits_preprocessed"]
    pre = {k: tf.constant(v) for k, v in exported["pre"].items()}
    np.testing.assert_allclose(fn(**pre)["logits"].numpy(), exported["logits"],
                               atol=_scale_tol(exported["logits"]))
    uint8_range = tf.constant((exported["pre"]["rgb"] + 1.0) * 127.5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"x / 127.5 - 1"):
        fn(rgb=uint8_range, flow=pre["flow"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"clip\(x, -20, 20\) / 20"):
        fn(rgb=pre["rgb"], flow=pre["flow"] * 20.0)


@pytest.mark.slow  # shares the 224 px export
def test_two_streams_of_different_lengths_are_rejected_naming_both(exported):
    """Issue #16: RGB 16 frames with flow 9 frames used to be accepted without a word."""
    loaded = tf.saved_model.load(exported["path"])
    rng = np.random.default_rng(1)
    rgb = tf.constant(rng.integers(0, 256, (1, 16, 8, 8, 3)).astype(np.uint8))
    for name in ("serving_default", "features"):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="rgb has 16 frames and flow 9 frames"):
            loaded.signatures[name](rgb=rgb, flow=tf.zeros([1, 9, 8, 8, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="rgb has 16 frames and flow 9"):
        loaded.signatures["logits_preprocessed"](rgb=tf.zeros([1, 16, 224, 224, 3]),
                                                 flow=tf.zeros([1, 9, 224, 224, 2]))
    # Different batch sizes: one RGB video was broadcast onto two flow videos (logits [2, K]).
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="rgb has 1 videos and flow 2; give both streams of the same videos"):
        loaded.signatures["serving_default"](rgb=tf.zeros([1, 10, 8, 8, 3], tf.uint8),
                                             flow=tf.zeros([2, 9, 8, 8, 2]))


def test_inputs_longer_than_max_frames_are_rejected(exported):
    # One pass over a long video does not fit (1988 frames at 224 px crashed at 11.8 GiB): every
    # signature refuses more than MAX_FRAMES frames (batch x time) per stream, before any
    # preprocessing or trunk runs, with the limit and the chunked alternative in the message.
    loaded = tf.saved_model.load(exported["path"])
    n = export.MAX_FRAMES + 1
    for name in ("serving_default", "features"):
        fn = loaded.signatures[name]
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"rgb input has more frames .* \({export.MAX_FRAMES}\).*chunked.*\[501\]"):
            fn(rgb=tf.zeros([1, n, 16, 16, 3], tf.uint8),
               flow=tf.zeros([1, n - 1, 16, 16, 2], tf.float32))
        half = n // 2 + 1  # the limit counts batch x time: 2 x 251 RGB frames
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"rgb input has more frames"):
            fn(rgb=tf.zeros([2, half, 16, 16, 3], tf.uint8),
               flow=tf.zeros([2, half - 1, 16, 16, 2], tf.float32))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"flow input has more frames"):
            fn(rgb=tf.zeros([1, n - 1, 16, 16, 3], tf.uint8),
               flow=tf.zeros([1, n, 16, 16, 2], tf.float32))
    fn = loaded.signatures["logits_preprocessed"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"rgb input has more frames"):
        fn(rgb=tf.zeros([1, n, 224, 224, 3]), flow=tf.zeros([1, n - 1, 224, 224, 2]))


@pytest.mark.slow  # subprocess, 224 px
def test_export_tool_writes_the_same_saved_model(exported, tmp_path):
    """tools/export_saved_model.py on the two streams' release-layout checkpoints: its
    SavedModel gives the Keras models' fused logits and the label map's names on raw inputs."""
    from kinetics_i3d.checkpoints import export_released, write_checkpoint

    ckpts = {m: write_checkpoint(export_released(model), str(tmp_path / m / "model.ckpt"))
             for m, model in exported["models"].items()}
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "saved_model"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "export_saved_model.py"),
         f"--rgb_checkpoint={ckpts['rgb']}", f"--flow_checkpoint={ckpts['flow']}",
         f"--label_map={label_map}", "--top_k=2", f"--output_dir={out}"],
        env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = tf.saved_model.load(str(out))
    assert set(loaded.signatures) == set(export.SIGNATURES)
    root = exported["root"]
    result = loaded.signatures["serving_default"](
        rgb=tf.constant(np.load(root / "rgb.npy")), flow=tf.constant(np.load(root / "flow.npy")))
    want = exported["logits"]
    np.testing.assert_allclose(result["logits"].numpy(), want, atol=_scale_tol(want))
    order = np.argsort(-want[0])[:2]
    np.testing.assert_array_equal(result["top_k_indices"].numpy()[0], order)
    assert [c.decode() for c in result["top_k_classes"].numpy()[0]] == [NAMES[i] for i in order]


def test_export_fuses_streams_through_the_fusion_home(exported, monkeypatch):
    # The SavedModel's two-stream logits are `kinetics_i3d.fusion.fuse_logits` of the streams'
    # (the sum, as evaluation and the sample), traced from the one home.
    from kinetics_i3d import fusion

    seen, original = [], fusion.fuse_logits

    def recording(stream_logits):
        seen.append(sorted(stream_logits))
        return original(stream_logits)

    monkeypatch.setattr(fusion, "fuse_logits", recording)
    module = export.I3DServing(exported["models"], NAMES)
    logits = module._logits({k: tf.constant(v) for k, v in exported["pre"].items()}).numpy()
    assert seen == [["flow", "rgb"]]
    np.testing.assert_allclose(logits, exported["logits"], atol=_scale_tol(exported["logits"]))


def test_the_registered_two_stream_i3d_exports_through_its_streams(exported):
    # I3DServing takes the registered two_stream_i3d model (e.g. restored from a trainer run)
    # as its stream_networks(): same logits as the stream dict with those weights.
    from kinetics_i3d import specs

    joint = specs.get_spec("two_stream_i3d").build(5, dropout_rate=0.0)
    nets = joint.stream_networks()
    for m in ("rgb", "flow"):
        nets[m].set_weights(exported["models"][m].get_weights())
    module = export.I3DServing(joint, NAMES)
    assert module.streams == ["flow", "rgb"]
    logits = module._logits({k: tf.constant(v) for k, v in exported["pre"].items()}).numpy()
    np.testing.assert_allclose(logits, exported["logits"], atol=_scale_tol(exported["logits"]))
    one = export.I3DServing(exported["models"]["rgb"], NAMES)  # a single InceptionI3d
    assert one.streams == ["rgb"]


@pytest.fixture(scope="module")
def two_stream_i3d_run(tmp_path_factory):
    """A 1-step --model=two_stream_i3d trainer run (5 classes, label_map.txt in its model_dir,
    where the trainer copies it): it writes no released/ checkpoint."""
    from kinetics_i3d.labels import BESIDE_CHECKPOINT
    from kinetics_i3d.train import TrainConfig, Trainer

    tf.keras.utils.set_random_seed(13)
    run = tmp_path_factory.mktemp("two_stream_i3d") / "run"
    trainer = Trainer(TrainConfig(model="two_stream_i3d", model_dir=str(run),
                                  train_pattern="in-memory", num_classes=len(NAMES),
                                  lr_schedule="steps", lr_values=(0.01,), eval_every=0))
    trainer._save(trainer.manager)
    (run / BESIDE_CHECKPOINT).write_text("\n".join(NAMES) + "\n")
    assert not (run / "released").exists()
    return {"run": run, "model": trainer.model}


@pytest.mark.slow  # 224 px two-stream export
def test_two_stream_i3d_trainer_run_exports_from_its_model_dir(two_stream_i3d_run, exported,
                                                               tmp_path):
    # What tools/export_saved_model.py --model=two_stream_i3d --model_dir=<run> calls: the
    # SavedModel gives the run's own Keras model's logits, and names from the run's label map.
    out = export.export_model(str(tmp_path / "saved_model"), "two_stream_i3d",
                              model_dir=str(two_stream_i3d_run["run"]), top_k=2)
    loaded = tf.saved_model.load(out)
    pre = {k: tf.constant(v) for k, v in exported["pre"].items()}
    want = two_stream_i3d_run["model"](pre, training=False).numpy()  # [1, 5], rgb + flow
    got = loaded.signatures["logits_preprocessed"](**pre)["logits"].numpy()
    np.testing.assert_allclose(got, want, atol=_scale_tol(want))
    # Not the fixture's other weights: the run's.
    assert np.abs(want - exported["logits"]).max() > 100 * _scale_tol(want)
    root = exported["root"]
    served = loaded.signatures["serving_default"](
        rgb=tf.constant(np.load(root / "rgb.npy")), flow=tf.constant(np.load(root / "flow.npy")))
    np.testing.assert_allclose(served["logits"].numpy(), want, atol=_scale_tol(want))
    order = np.argsort(-want[0])[:2]
    assert [c.decode() for c in served["top_k_classes"].numpy()[0]] == [NAMES[i] for i in order]


def _tool(*args):
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "export_saved_model.py"),
                           *args], env=ENV, capture_output=True, text=True, timeout=300)


def test_export_tool_takes_the_weight_flags_its_spec_gives(tmp_path):
    # Which models the SavedModel serves, and from which weights, is read from the spec: a
    # baseline is one line saying why (exit 1), a misplaced weight flag one line naming the
    # models that take it (exit 2); nothing is written.
    out = tmp_path / "saved_model"
    proc = _tool("--model=c3d", f"--model_dir={tmp_path}", f"--output_dir={out}")
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(
        "error: --model=c3d: the SavedModel serves whole-video I3D models "
        "(--model=i3d/two_stream_i3d)"), proc.stderr
    assert "fixed test snapshots" in proc.stderr
    for args, message in (
            (["--model=i3d", f"--model_dir={tmp_path}"],
             "error: --model_dir: trainer-run models only (--model=two_stream_i3d), not "
             "--model=i3d; a --model=i3d run's <model_dir>/released/model.ckpt is its "
             "--rgb_checkpoint or --flow_checkpoint\n"),
            (["--model=two_stream_i3d", f"--rgb_checkpoint={tmp_path}/rgb"],
             "error: --model=two_stream_i3d: give --flow_checkpoint, or the trainer's "
             "--model_dir\n")):
        proc = _tool(*args, f"--output_dir={out}")
        assert (proc.returncode, proc.stderr) == (2, message)
    assert not out.exists()


def test_export_model_refuses_a_whole_video_model_without_stream_networks():
    # I3DServing (and evaluation) ask `streams.stream_networks`: a model without them is one
    # line naming why, not an AttributeError.
    from kinetics_i3d.errors import UserError

    class NoStreams:
        name = "a_whole_video_model"

    with pytest.raises(UserError, match=r"^--model=a_whole_video_model: NoStreams has no "
                                        r"stream_networks\(\); .*ChunkedI3D"):
        export.I3DServing(NoStreams(), NAMES)
