"""Trainer-run checkpoints have one home (kinetics_i3d/checkpoints/run.py): readers do not import
the trainer."""
import ast
import pathlib

import kinetics_i3d

PACKAGE = pathlib.Path(kinetics_i3d.__file__).parent


def _imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_reader_of_run_checkpoints_imports_the_trainer():
    # serve/ (evaluation, export), data/ and checkpoints/ sit below train/: a serve -> train
    # import loaded the whole trainer to read a checkpoint (issue #14).
    offenders = {}
    for sub in ("serve", "data", "checkpoints"):
        for path in sorted((PACKAGE / sub).glob("*.py")):
            bad = sorted(n for n in _imports(path) if n.startswith("kinetics_i3d.train"))
            if bad:
                offenders[f"{sub}/{path.name}"] = bad
    assert offenders == {}
    # The negative control: the scan does see the trainer's own imports of the run format.
    assert "kinetics_i3d.checkpoints.run" in _imports(PACKAGE / "train" / "loop.py")
