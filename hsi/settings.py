"""Locations hsi reads from: the shared real-data folder and the shipped sample."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SCENE = PROJECT_ROOT / "data" / "sample_scene.tif"
MODELS_DIR = PROJECT_ROOT / "models"


def shared_data_dir() -> Path:
    """Real benchmark scenes: ``$HSI_SHARED_DATA``, default ``../shared/data`` beside the project."""
    return Path(os.environ.get("HSI_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
