"""Shared test fixtures: where `../shared/fixtures` is, and quiet TensorFlow logs."""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINETICS_I3D_SHARED", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
VIDEOS = FIXTURES / "videos"
RELEASED_INDEX = FIXTURES / "released_checkpoints"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"shared fixtures not found at {FIXTURES}; set KINETICS_I3D_SHARED")
    return FIXTURES


@pytest.fixture(scope="session")
def videos_dir(fixtures_dir) -> Path:
    return fixtures_dir / "videos"
