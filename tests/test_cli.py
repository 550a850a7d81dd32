"""Every tool in tools/ through `kinetics_i3d.cli.run`: one bad input -> one `error:` line on
stderr, no traceback, the documented exit status; `--help` exits 0; bugs keep their traceback.

Each case fails before any model work (a missing file or a bad flag), so the cost is the tool's
imports (TensorFlow for most: ~3-5 s each on 2 cores).
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = sorted(p.name for p in (REPO / "tools").glob("*.py"))
MISSING = "/nonexistent/kinetics_i3d_test"

# tool -> (arguments with one bad input, exit status, a fragment the error line must contain)
BAD_INPUT = {
    "benchmark_decode.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_flow.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_fvd.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_ingest.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_input.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_long_video.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_model.py": (["--modes=warp_speed"], 2, "warp_speed"),
    "benchmark_train.py": (["--no_such_flag"], 2, "no_such_flag"),
    "benchmark_vs_pytorch.py": (["--no_such_flag"], 2, "no_such_flag"),
    # An empty class folder (the test's own empty tmp dir): refused, nothing written.
    "build_tfrecords.py": (["--manifest_format=folder", "--manifest={tmp}",
                            "--output_dir={tmp}/shards"], 1, "lists no <class>/<video> files"),
    "compute_fvd.py": ([f"--real={MISSING}.npy", "--generated={tmp}/*.mp4"], 1,
                       f"{MISSING}.npy"),
    "convert_checkpoint.py": (["--source=pytorch_i3d", f"--input={MISSING}.pt",
                               "--output_checkpoint={tmp}/out/model.ckpt"], 1, f"{MISSING}.pt"),
    "evaluate.py": (["--shards={tmp}/*.tfrecord", f"--rgb_checkpoint={MISSING}/model.ckpt",
                     "--output_dir={tmp}/eval"], 1, f"{MISSING}/model.ckpt"),
    "evaluate_sample.py": (["--eval_type=rgb", f"--rgb_checkpoint={MISSING}/model.ckpt",
                            f"--rgb_input={MISSING}.npy"], 1, f"{MISSING}.npy"),
    "export_saved_model.py": ([f"--rgb_checkpoint={MISSING}/model.ckpt",
                               "--output_dir={tmp}/export"], 1, f"{MISSING}/model.ckpt"),
    "extract_features.py": ([f"--video={MISSING}.mp4", f"--rgb_checkpoint={MISSING}/model.ckpt",
                             "--output_dir={tmp}/features"], 1, f"{MISSING}.mp4"),
    "inflate_inception_v1.py": ([f"--imagenet_checkpoint={MISSING}/inception_v1.ckpt",
                                 "--output_checkpoint={tmp}/i3d/model.ckpt"], 1,
                                f"{MISSING}/inception_v1.ckpt"),
    "quickstart.py": ([f"--rgb_checkpoint={MISSING}/model.ckpt"], 1, f"{MISSING}/model.ckpt"),
    "train.py": (["--flagfile=flags/smoke.cfg", f"--train_pattern={MISSING}/train-*.tfrecord",
                  "--model_dir={tmp}/model"], 2, f"{MISSING}/train-*.tfrecord"),
}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO,
                          env=_env(), timeout=180, **kwargs)


def test_every_tool_has_a_bad_input_case():
    assert sorted(BAD_INPUT) == TOOLS


@pytest.mark.parametrize("tool", TOOLS)
def test_bad_input_gives_one_error_line_and_the_exit_status(tool, tmp_path):
    args, status, fragment = BAD_INPUT[tool]
    out = _run([f"tools/{tool}", *(a.format(tmp=tmp_path) for a in args)])
    lines = out.stderr.splitlines()
    assert out.returncode == status, out.stderr
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines
    assert "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir()), "a failed run left files behind"


@pytest.mark.parametrize("tool", TOOLS)
def test_help_exits_0_with_examples_on_their_own_lines(tool):
    out = _run([f"tools/{tool}", "--help"])
    assert out.returncode == 0, out.stderr
    assert f"tools/{tool}:" in out.stdout  # absl's flag list of the tool
    for line in out.stdout.splitlines():
        # A '\' line continuation in a non-raw docstring used to run the example lines together.
        assert not (line.lstrip().startswith("python ") and line.count(" --") > 6), line


SCRIPT = """
    import sys
    from kinetics_i3d import cli
    from kinetics_i3d.errors import UserError

    def main(argv):
        kind = argv[1]
        if kind == "user":
            raise UserError("--video=clip.mp4: no such file\\n(second line joined)")
        if kind == "bug":
            raise KeyError("a real bug")
        if kind == "failed":
            return cli.all_failed_status(0, 3, "video")
        return cli.all_failed_status(1, 3, "video")

    cli.run(main)
"""


@pytest.mark.parametrize("kind, extra, status, traceback", [
    ("user", [], 1, False),
    ("user", ["--verbosity=1"], 1, True),
    ("bug", [], 1, True),
    ("failed", [], 1, False),
    ("partly", [], 0, False),
])
def test_cli_run_statuses_and_tracebacks(kind, extra, status, traceback):
    out = _run(["-c", textwrap.dedent(SCRIPT), kind, *extra])
    assert out.returncode == status, out.stderr
    assert ("Traceback" in out.stderr) == traceback, out.stderr
    if kind == "user":
        assert out.stderr.splitlines()[-1] == (
            "error: --video=clip.mp4: no such file (second line joined)")
    if kind == "failed":
        assert "every video of this run failed (3)" in out.stderr


def test_cli_run_flag_error_is_one_line_with_status_2():
    out = _run(["-c", textwrap.dedent(SCRIPT), "user", "--verbosity=loud"])
    assert out.returncode == 2
    assert out.stderr.splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith("error: ") and "verbosity" in out.stderr


@pytest.mark.parametrize("flag, fragment", [
    ("--num_shards=0", "--num_shards=0: expected >= 1"),  # used to leave an empty folder
    ("--fps=-5", "--fps=-5.0: expected > 0"),
])
def test_build_tfrecords_bad_value_is_one_error_line_and_writes_nothing(flag, fragment,
                                                                       tmp_path):
    from conftest import VIDEOS  # noqa: PLC0415

    (tmp_path / "clips" / "cup").mkdir(parents=True)
    (tmp_path / "clips" / "cup" / "cup.mp4").symlink_to(VIDEOS / "cup.mp4")
    out = _run(["tools/build_tfrecords.py", "--manifest_format=folder",
                f"--manifest={tmp_path / 'clips'}", f"--output_dir={tmp_path / 'out'}",
                "--skip_flow", flag])
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [out.stderr.strip()], out.stderr
    assert out.stderr.startswith("error: ") and fragment in out.stderr, out.stderr
    assert not (tmp_path / "out").exists()
