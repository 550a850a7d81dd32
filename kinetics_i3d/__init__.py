"""kinetics-i3d: Two-Stream Inflated 3D ConvNets (Carreira & Zisserman, CVPR 2017) in TF2 / Keras 3.

Importing the package sets two TensorFlow environment defaults, before TensorFlow loads and only
where the user has not set them (see BUILD_NOTES.md, "CPU speed"):
- `TF_ENABLE_ONEDNN_OPTS=1`: TF 2.16 turns oneDNN on by itself only on CPUs with AVX-512
  VNNI/BF16/AMX-class features; on AVX2-only CPUs it falls back to Eigen kernels and conv3d runs
  ~6x slower. oneDNN changes float rounding (results differ in the last bits, not beyond the
  tolerances the tests hold); set `TF_ENABLE_ONEDNN_OPTS=0` to turn it off.
- `TF_CPP_MIN_LOG_LEVEL=3`: hides TensorFlow's C++ log lines (on CPU machines the cuFFT / cuDNN /
  cuBLAS "Unable to register factory" lines at level E, which read like errors); set it to 0 to
  see them.
Entry points (tools, benchmarks, tests) import `kinetics_i3d` before TensorFlow for this reason.
"""
import os as _os
import sys as _sys

__version__ = "0.1.0"

TF_ENV_DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _set_tf_env_defaults() -> None:
    """Sets `TF_ENV_DEFAULTS` where unset; no effect once TensorFlow is loaded (it reads them then)."""
    if "tensorflow" in _sys.modules:
        return
    for name, value in TF_ENV_DEFAULTS.items():
        _os.environ.setdefault(name, value)


_set_tf_env_defaults()
