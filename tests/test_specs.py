"""The model specs (kinetics_i3d/specs.py) against the model classes and the trainer: every video
spec builds with the trainer's options, its streams and layouts are what its class takes, its
`classifier_layers()` are its last class-scoring layers, and `--init_checkpoint` kinds follow
`init_sources`. Nothing outside specs.py switches on a model name or model class."""
import ast
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import kinetics_i3d
from kinetics_i3d import specs
from kinetics_i3d.checkpoints import write_checkpoint
from kinetics_i3d.checkpoints.init import initialize_from_checkpoint
from kinetics_i3d.checkpoints.run import classifier_layers
from kinetics_i3d.errors import UserError
from kinetics_i3d.train import TrainConfig
from kinetics_i3d.train.loop import build_model

PACKAGE = pathlib.Path(kinetics_i3d.__file__).parent
K = 5

# Small variants (class-specific size arguments, not options the trainer passes) and the crop
# side of their inputs: I3D's head needs 193..224 px and 9+ frames, Inception-v1 towers 64 px.
SMALL = {
    "i3d": ({}, 193),
    "two_stream_i3d": ({}, 193),
    "convnet_lstm": (dict(lstm_units=16, max_steps=3), 64),
    "c3d": (dict(image_size=32, filters=(4,) * 8, fc_units=8), 32),
    "two_stream": ({}, 64),
    "fused_two_stream": (dict(fusion_channels=8), 64),
}
CHANNELS = {"rgb": 3, "flow": 2}


def test_every_video_spec_has_a_small_case():
    assert sorted(SMALL) == specs.video_names()


@pytest.mark.parametrize("name", specs.video_names())
def test_trainer_builds_every_video_spec_with_its_options(name):
    """`build_model` (the trainer's) builds the spec's class from a default `TrainConfig`, and
    every option the spec lists reaches the model."""
    spec = specs.get_spec(name)
    config = TrainConfig(model=name, num_classes=K, dropout_rate=0.25,
                         modality="flow" if spec.modality_flag else "rgb")
    model = build_model(config)
    assert type(model) is spec.model_class_object()
    assert set(config.model_options) == set(spec.options)
    assert model.dropout_rate == 0.25 and model.sync_batch_norm is False
    if spec.modality_flag:
        assert model.modality.name == "flow"
    for layer in classifier_layers(model):
        bias = [w for w in layer.weights if w.path.endswith("bias")]
        assert [tuple(w.shape) for w in bias] == [(K,)], (name, layer.name)


def _training_frames(spec, size, rng):
    """One example per stream of the spec's training sampling, laid out as its interface says
    (`[1, *layout, H, W, C]`, layout defaulting to the flat frame count); consecutive-frame
    models get 9 frames (as `--num_frames=9`)."""
    train = spec.interface.train
    frames = {}
    for stream in spec.streams("rgb"):
        count = train.num_rgb if stream == "rgb" else train.num_flow
        layout = train.rgb_layout if stream == "rgb" else train.flow_layout
        if spec.consecutive_frames:
            count, layout = 9, None
        shape = (1, *(layout or (count,)), size, size, CHANNELS[stream])
        frames[stream] = tf.constant(rng.uniform(-1, 1, shape).astype(np.float32))
    return frames


@pytest.mark.parametrize("name", specs.video_names())
def test_classifier_layers_are_the_last_scoring_layers(name):
    """A batch laid out by the spec's interface goes through `specs.model_inputs` into the
    class; with every `classifier_layers()` weight zeroed the logits are equal over the classes
    (no later layer scores classes), and a bias on class 3 in each makes class 3 the top one.
    Models whose loss is at all steps give `[B, T, K]` with `return_sequences=True`."""
    spec = specs.get_spec(name)
    kwargs, size = SMALL[name]
    keras.utils.set_random_seed(0)
    model = spec.build(K, dropout_rate=0.0, **kwargs)
    inputs = specs.model_inputs(_training_frames(spec, size, np.random.default_rng(1)),
                                spec.streams("rgb"))
    logits = model(inputs, training=False).numpy()
    assert logits.shape == (1, K) and np.ptp(logits) > 1e-4  # random weights: classes differ
    layers = classifier_layers(model)
    for layer in layers:
        for w in layer.weights:
            w.assign(tf.zeros_like(w))
    flat = model(inputs, training=False).numpy()
    np.testing.assert_allclose(flat, flat[:, :1].repeat(K, axis=1), atol=1e-5)
    for layer in layers:
        bias = next(w for w in layer.weights if w.path.endswith("bias"))
        bias.assign(tf.one_hot(3, K))
    assert model(inputs, training=False).numpy().argmax(-1).tolist() == [3]
    if spec.training_loss == specs.LOSS_ALL_STEPS:
        steps = model(inputs, training=False, return_sequences=True)
        assert tuple(steps.shape) == (1, spec.interface.train.num_rgb, K)


def _one_variable_checkpoint(path, name):
    return write_checkpoint({name: np.zeros([1], np.float32)}, str(path / "model.ckpt"))


@pytest.mark.parametrize("name, variable, found, takes", [
    ("c3d", "RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w", "released-layout I3D",
     "trainer-run"),
    ("i3d", "InceptionV1/Conv2d_1a_7x7/weights", "TF-slim ImageNet Inception-v1",
     "trainer-run or released-layout I3D"),
    ("two_stream_i3d", "Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w", "released-layout I3D",
     "trainer-run"),
])
def test_init_checkpoint_of_a_kind_the_spec_does_not_take_is_one_line(tmp_path, name, variable,
                                                                      found, takes):
    """A checkpoint kind not in the spec's `init_sources`: a one-line `UserError` naming
    --init_checkpoint, the kind found and the kinds the model takes; nothing is loaded."""
    spec = specs.get_spec(name)
    prefix = _one_variable_checkpoint(tmp_path, variable)
    with pytest.raises(UserError) as error:
        initialize_from_checkpoint(None, prefix, spec)  # refused before the model is touched
    message = str(error.value)
    assert "\n" not in message
    assert message == (f"--init_checkpoint={prefix!r} is a {found} checkpoint; --model={name} "
                       f"takes only {takes} checkpoints")


def test_init_checkpoint_of_no_known_kind_is_one_line(tmp_path):
    prefix = _one_variable_checkpoint(tmp_path, "some/other/variable")
    with pytest.raises(UserError, match=r"^--init_checkpoint=.* is not a trainer-run, a "
                                        r"released-layout I3D, a TF-slim .* checkpoint \(no "):
        initialize_from_checkpoint(None, prefix, specs.get_spec("i3d"))


def test_released_export_needs_the_released_layout_and_init_source():
    assert [n for n in specs.names() if specs.get_spec(n).released_export] == ["i3d"]
    i3d = specs.get_spec("i3d")
    with pytest.raises(ValueError, match="released_export needs released_layout"):
        specs.ModelSpec("x", i3d.model_class, "", i3d.interface, modality_flag=True,
                        options=i3d.options, test_prediction=i3d.test_prediction,
                        released_export=True)


# ------------------------------------------------------------------ no name switches elsewhere
MODEL_CLASSES = {specs.get_spec(n).model_class.rpartition(":")[2] for n in specs.names()}
# Every module of the package but specs.py itself, and every tool.
SCANNED = [*(p for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "specs.py"),
           *sorted((PACKAGE.parent / "tools").glob("*.py"))]


def _name_switches(path):
    """`x == "i3d"`, `x in ("i3d", ...)` and `isinstance(x, <model class>)` in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                found += [f"{path.name}:{node.lineno} compares with {item.value!r}"
                          for item in items if isinstance(item, ast.Constant)
                          and item.value in specs.SPECS]
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance"
                and len(node.args) == 2):
            classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            found += [f"{path.name}:{node.lineno} isinstance of {ast.unparse(c)}"
                      for c in classes if ast.unparse(c).rpartition(".")[2] in MODEL_CLASSES]
    return found


def test_no_module_switches_on_a_model_name_or_class():
    assert PACKAGE / "train" / "loop.py" in SCANNED and len(SCANNED) > 50
    assert [hit for path in SCANNED for hit in _name_switches(path)] == []


def test_the_scan_sees_a_name_switch(tmp_path):
    # The negative control: the scan flags what the train side used to hold.
    path = tmp_path / "old.py"
    path.write_text('if config.model == "i3d" or config.model not in ("c3d", "x"):\n'
                    '    ok = isinstance(model, models.ConvNetLSTM)\n')
    assert len(_name_switches(path)) == 3


def test_the_trainer_imports_no_model_class():
    imported = set()
    for path in (PACKAGE / "train").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "kinetics_i3d.models"):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module == "kinetics_i3d":
                imported.update(a.name for a in node.names if a.name == "models")
    assert imported & (MODEL_CLASSES | {"models"}) == set()


def test_train_reexports_the_moved_names_lazily():
    """`kinetics_i3d.train` still offers the names that moved to checkpoints/ (PEP 562)."""
    from kinetics_i3d import train
    from kinetics_i3d.checkpoints import init, run

    assert train.initialize_from_checkpoint is init.initialize_from_checkpoint
    assert train.classifier_layers is run.classifier_layers
    assert train.classifier_layer is run.classifier_layer
    with pytest.raises(AttributeError, match="no attribute 'export_everything'"):
        train.export_everything


def test_classifier_layers_of_a_model_without_them_is_one_line():
    plain = keras.Sequential([keras.layers.Dense(K)])
    with pytest.raises(ValueError, match=r"^Sequential has no classifier_layers\(\) method"):
        classifier_layers(plain)
    features = specs.get_spec("i3d").build(K, final_endpoint="Mixed_5c")
    with pytest.raises(ValueError, match=r"has no classifier layer \(a feature model"):
        classifier_layers(features)
