"""The label maps shipped with the package."""

import pytest

from conftest import FIXTURES
from kinetics_i3d import labels


def test_shipped_label_maps_are_the_release_ones():
    for n, name in ((400, "label_map.txt"), (600, "label_map_600.txt")):
        shipped = labels.default_label_map(n)
        assert len(shipped) == n
        assert shipped == (FIXTURES / name).read_text().strip("\n").split("\n")
    with pytest.raises(ValueError, match="no shipped label map for 101 classes"):
        labels.default_label_map(101)


def test_bad_label_map_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        labels.load_label_map(tmp_path / "missing.txt")
    holey = tmp_path / "holey.txt"
    holey.write_text("a\n\nb\n")
    with pytest.raises(ValueError, match="holey.txt is empty or has blank lines"):
        labels.load_label_map(holey)
