"""kinetics_i3d.checkpoints.paths: every way a user names a checkpoint loads the same one; a
missing file is one line naming it (issue #16)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import RELEASED_INDEX, REPO_ROOT, random_release_values
from kinetics_i3d.checkpoints import export_released, resolve_checkpoint, write_checkpoint
from kinetics_i3d.checkpoints.paths import CheckpointNotFoundError, data_files
from kinetics_i3d.errors import UserError
from kinetics_i3d.serve import streams

LOGITS_BIAS = "RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/b"
FIRST_CONV = "RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    values = random_release_values("rgb_imagenet", seed=3, num_classes=7)
    prefix = write_checkpoint(values, str(folder / "model.ckpt-12"))
    # What tf.train.CheckpointManager writes beside its checkpoints.
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-12"\n')
    return prefix, values


def test_index_data_folder_and_prefix_load_the_same_checkpoint(checkpoint):
    prefix, values = checkpoint
    forms = [prefix, prefix + ".index", prefix + ".data-00000-of-00001",
             os.path.dirname(prefix), os.path.dirname(prefix) + "/"]
    assert [resolve_checkpoint(f) for f in forms] == [prefix] * len(forms)
    for form in forms[1:4]:
        model = streams.load_stream("rgb", form)
        assert model.num_classes == 7
        restored = export_released(model)  # the model's weights under the release's names
        for name in (LOGITS_BIAS, FIRST_CONV):
            np.testing.assert_array_equal(restored[name], values[name])


def test_folder_with_one_index_and_no_checkpoint_file_is_that_checkpoint(checkpoint, tmp_path):
    # What the trainer's `released/` folder, the pretrained() cache and convert_checkpoint.py's
    # output hold: one prefix, no `checkpoint` file. Unambiguous, so the folder names it.
    prefix, _ = checkpoint
    folder = tmp_path / "released"
    folder.mkdir()
    for f in (".index", ".data-00000-of-00001"):
        shutil.copy(prefix + f, str(folder / "model.ckpt") + f)
    expected = str(folder / "model.ckpt")
    assert resolve_checkpoint(str(folder)) == expected
    assert resolve_checkpoint(str(folder) + "/", "rgb_checkpoint") == expected
    # Two prefixes and no `checkpoint` file: ambiguous, one line listing both.
    for f in (".index", ".data-00000-of-00001"):
        shutil.copy(prefix + f, str(folder / "other.ckpt") + f)
    with pytest.raises(CheckpointNotFoundError) as err:
        resolve_checkpoint(str(folder), "rgb_checkpoint")
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--rgb_checkpoint='{folder}'")
    assert "2 checkpoints" in message and "model.ckpt" in message and "other.ckpt" in message


def test_missing_data_file_is_one_line_naming_it(checkpoint, tmp_path):
    prefix, _ = checkpoint
    copy = str(tmp_path / "model.ckpt")
    shutil.copy(prefix + ".index", copy + ".index")
    with pytest.raises(CheckpointNotFoundError) as err:
        resolve_checkpoint(copy + ".index", "rgb_checkpoint")
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, UserError)
    assert f"{copy}.data-00000-of-00001 is missing" in message
    assert message.startswith(f"--rgb_checkpoint='{copy}.index'")
    # The release's own index files (fixtures, without their data) name the release's data file.
    release = str(RELEASED_INDEX / "rgb_imagenet" / "model.ckpt")
    assert data_files(release) == [release + ".data-00000-of-00001"]
    with pytest.raises(UserError, match=r"model\.ckpt\.data-00000-of-00001 is missing"):
        resolve_checkpoint(release)
    # Nothing at all, and a folder that is not a checkpoint folder.
    with pytest.raises(FileNotFoundError, match=r"nowhere\.index does not exist"):
        resolve_checkpoint(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=r"no checkpoint in the folder \(no 'checkpoint' file, "
                                         r"no \*\.index file\)"):
        resolve_checkpoint(str(empty))


def test_tool_prints_the_missing_data_file_as_one_error_line(checkpoint, tmp_path):
    prefix, _ = checkpoint
    copy = str(tmp_path / "model.ckpt")
    shutil.copy(prefix + ".index", copy + ".index")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "export_saved_model.py"),
         f"--rgb_checkpoint={copy}.index", f"--output_dir={tmp_path / 'export'}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "data-00000-of-00001 is missing" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_library_readers_name_the_path_not_a_flag(tmp_path):
    from kinetics_i3d.checkpoints import read_num_classes

    with pytest.raises(UserError, match=r"^checkpoint '.*nowhere': no checkpoint there"):
        read_num_classes(str(tmp_path / "nowhere"))
