"""Satellite and airborne products as the missions distribute them, opened as ordinary scenes.

Each module knows one mission's layout (which file holds the cube, where wavelengths,
gains, fill values, quality flags and geolocation live) and returns a lazy
:class:`~hsi.scene.Scene`; :func:`detect` picks the module from the file or folder name
and, where names are ambiguous, from the content. ``Scene.metadata['product']`` names the
sensor, level and product.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hsi.errors import InputError
from hsi.io.products import aviris, desis, emit, enmap, landsat, prisma, sentinel2, tanager
from hsi.scene import Scene

__all__ = ["Product", "PRODUCTS", "detect", "describe_product", "open_pair", "product_info", "product_root"]


@dataclass(frozen=True)
class Product:
    """One mission's reader: ``matches(path)`` recognises its files or folders, ``open`` reads them."""

    name: str
    matches: Callable[[Path], bool]
    open: Callable[..., Scene]
    open_pan: Callable[[Path], Scene] | None = None  # the product's own PAN image, where it has one


PRODUCTS = (
    Product("emit", emit.detect, emit.open_emit),
    Product("enmap", enmap.detect, enmap.open_enmap),
    Product("prisma", prisma.detect, prisma.open_prisma, prisma.open_prisma_pan),
    Product("landsat", landsat.detect, landsat.open_landsat, landsat.open_landsat_pan),
    Product("sentinel2", sentinel2.detect, sentinel2.open_sentinel2),
    Product("desis", desis.detect, desis.open_desis),
    Product("tanager", tanager.detect, tanager.open_tanager),
    Product("aviris_geometry", aviris.detect_geometry, aviris.open_geometry),  # before aviris: OBS/LOC in swath geometry
    Product("aviris", aviris.detect, aviris.open_aviris),
    Product("aviris_line", aviris.detect_line, aviris.open_line),  # on a map grid, or no GLT: its units by its name
)


def detect(path: Path | str) -> Product | None:
    """The product reader for ``path`` (a file or a product folder), or None for plain files."""
    path = Path(path)
    return next((product for product in PRODUCTS if product.matches(path)), None)


def open_pair(path: Path | str) -> tuple[Scene, Scene]:
    """The (hyperspectral/MS, PAN) pair of a product that carries both (PRISMA, Landsat 8/9)."""
    path = Path(path)
    product = detect(path)
    if product is None or product.open_pan is None:
        kind = "not a recognised product" if product is None else f"a {product.name} product, which has no PAN image"
        raise InputError(f"{path}: {kind}; give ms= and pan= instead")
    return product.open(path), product.open_pan(path)


def product_root(path: Path | str) -> Path:
    """The product folder holding ``path`` (a band file of a Landsat, EnMAP or Sentinel-2 folder), else ``path``.

    Batch jobs use it so that a folder is one scene, not one scene per band file.
    """
    path = Path(path)
    for candidate in (path, *path.parents[:5]):  # a Sentinel-2 band file sits 5 folders down
        if candidate.is_dir() and detect(candidate) is not None:
            return candidate
    return path


def describe_product(path: Path | str) -> dict | None:
    """``{'sensor', 'level', 'product'}`` of the product at ``path``, None for plain files."""
    product = detect(path)
    if product is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. EnMAP without METADATA.XML: the job warns again
        return product_info(product.open(Path(path)))


def product_info(scene: Scene) -> dict | None:
    """``{'sensor', 'level', 'product'}`` of a scene opened from a product, else None."""
    return scene.metadata.get("product") if isinstance(scene.metadata, dict) else None
