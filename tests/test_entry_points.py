"""Every command line imports `kinetics_i3d` before TensorFlow, so the package's TF defaults
(oneDNN on, C++ logs quiet; kinetics_i3d/__init__.py) reach every run, on AVX2 CPUs too.

Each tool is imported in a fresh interpreter with the variables unset and an import hook that
records the environment at TensorFlow's first import and stops there (no TF load, so fast).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
import kinetics_i3d

TOOLS = sorted((REPO_ROOT / "tools").glob("*.py"))
VARIABLES = tuple(kinetics_i3d.TF_ENV_DEFAULTS)

_PROBE = """
import importlib.abc, importlib.util, json, os, sys

class StopAtTensorFlow(BaseException):
    pass

seen = {}

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "tensorflow" and not seen:
            seen.update({k: os.environ.get(k) for k in VARIABLES})
            raise StopAtTensorFlow
        return None

VARIABLES = json.loads(sys.argv[2])
sys.meta_path.insert(0, Hook())
spec = importlib.util.spec_from_file_location("tool_under_test", sys.argv[1])
try:
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
except StopAtTensorFlow:
    pass
print("RESULT " + json.dumps({
    "at_tensorflow_import": seen or None,
    "after_import": {k: os.environ.get(k) for k in VARIABLES},
    "package_imported": "kinetics_i3d" in sys.modules}))
"""


def _fresh_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@pytest.mark.parametrize("tool", TOOLS, ids=[t.name for t in TOOLS])
def test_tool_sets_tf_defaults_before_tensorflow(tool):
    assert len(TOOLS) >= 10  # the glob found the tools
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(tool), json.dumps(VARIABLES)],
                          env=_fresh_env(), capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["package_imported"], result
    # TensorFlow imported at module level: it must have seen the defaults. Imported later (in
    # main): the package has set them in os.environ by then.
    seen = result["at_tensorflow_import"] or result["after_import"]
    assert seen == kinetics_i3d.TF_ENV_DEFAULTS, (tool.name, result)


def test_user_setting_wins_and_onednn_state_follows_it():
    """With the variables unset, a fresh process that imports the package gets oneDNN on (what
    TF 2.16 would not do by itself on AVX2 CPUs); TF_ENABLE_ONEDNN_OPTS=0 from the user stays."""
    code = ("import kinetics_i3d, os\n"
            "from kinetics_i3d import machine\n"
            "print('RESULT', machine.onednn_enabled(), os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    states = {}
    for name, value in (("unset", None), ("off", "0")):
        env = _fresh_env()
        if value is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = value
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=300)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, proc.stderr[-3000:]
        states[name] = lines[-1].split()[1:]
        # TF_CPP_MIN_LOG_LEVEL=3 by default: none of TF's C++ log lines reach stderr.
        assert "cuda_dnn" not in proc.stderr and "port.cc" not in proc.stderr, proc.stderr
    assert states == {"unset": ["True", "1"], "off": ["False", "0"]}
