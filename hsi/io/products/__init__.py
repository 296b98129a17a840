"""Satellite and airborne products as the missions distribute them, opened as ordinary scenes.

Each module knows one mission's layout (which file holds the cube, where wavelengths,
gains, fill values, quality flags and geolocation live) and returns a lazy
:class:`~hsi.scene.Scene`; :func:`detect` picks the module from the file or folder name
and, where names are ambiguous, from the content. ``Scene.metadata['product']`` names the
sensor, level and product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hsi.io.products import emit, enmap
from hsi.scene import Scene

__all__ = ["Product", "PRODUCTS", "detect", "product_info"]


@dataclass(frozen=True)
class Product:
    name: str
    matches: Callable[[Path], bool]
    open: Callable[..., Scene]


PRODUCTS = (
    Product("emit", emit.detect, emit.open_emit),
    Product("enmap", enmap.detect, enmap.open_enmap),
)


def detect(path: Path | str) -> Product | None:
    """The product reader for ``path`` (a file or a product folder), or None for plain files."""
    path = Path(path)
    return next((product for product in PRODUCTS if product.matches(path)), None)


def product_info(scene: Scene) -> dict | None:
    """``{'sensor', 'level', 'product'}`` of a scene opened from a product, else None."""
    return scene.metadata.get("product") if isinstance(scene.metadata, dict) else None
