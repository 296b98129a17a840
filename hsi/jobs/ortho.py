"""Orthorectified outputs: jobs work in the product's swath geometry, then map the result.

Stripes and detector noise are column-aligned in the swath, so restoration and unmixing
run there; the result is then indexed through the product's GLT onto its map grid
(:func:`hsi.io.products.glt.orthorectified`), window by window of the map grid.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hsi.io import open_scene, save_scene
from hsi.io.products.glt import GltGeolocation, LatLonGeolocation, orthorectified
from hsi.scene import Scene


def wants_ortho(scene: Scene, ortho: bool) -> bool:
    """Whether a job's output of ``scene`` is to be orthorectified (``ortho=true`` and a GLT or lat/lon arrays)."""
    return bool(ortho) and isinstance(scene.geolocation, (GltGeolocation, LatLonGeolocation))


def swath_path(output: Path) -> Path:
    """Where the swath-geometry result of ``output`` is kept: ``<stem>_swath<suffix>``."""
    return output.with_name(f"{output.stem}_swath{output.suffix}")


def write_orthorectified(swath: Path, source: Scene, output: Path, overwrite: bool) -> Path:
    """The swath-geometry file ``swath`` (same grid as ``source``) on ``source``'s GLT map grid at ``output``."""
    result = dataclasses.replace(open_scene(swath), geolocation=source.geolocation)
    return save_scene(orthorectified(result), output, overwrite=overwrite)
