"""Real product crops from the shared data folder, and writers of tiny synthetic products."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest



@pytest.fixture(scope="session")
def satellite(shared_data):
    folder = shared_data / "satellite"
    if not folder.is_dir():
        pytest.skip(f"real product crops not found at {folder}")
    return shared_data


def _write_emit_rfl(folder: Path, cube: np.ndarray, glt_x: np.ndarray, glt_y: np.ndarray, *,
                   good: np.ndarray | None = None, name: str = "EMIT_L2A_RFL_001_20240101T000000_0000000_001.nc",
                   geotransform=(10.0, 0.001, 0.0, 45.0, 0.0, -0.001)) -> Path:
    """An EMIT L2A RFL granule laid out as the LP DAAC NetCDF4 (root attrs, groups, _FillValue)."""
    bands = cube.shape[2]
    path = folder / name
    with h5py.File(path, "w") as f:
        f.attrs["instrument"] = np.bytes_(b"EMIT")
        f.attrs["geotransform"] = np.asarray(geotransform, np.float64)
        from rasterio.crs import CRS

        f.attrs["spatial_ref"] = CRS.from_epsg(4326).to_wkt()
        rfl = f.create_dataset("reflectance", data=cube.astype(np.float32))
        rfl.attrs["_FillValue"] = np.asarray([-9999.0], np.float32)
        rfl.attrs["units"] = np.bytes_(b"unitless")
        params = f.create_group("sensor_band_parameters")
        params["wavelengths"] = np.linspace(381.0, 2493.0, bands).astype(np.float32)
        params["fwhm"] = np.full(bands, 8.5, np.float32)
        params["good_wavelengths"] = (np.ones(bands, np.float32) if good is None else good.astype(np.float32))
        location = f.create_group("location")
        location["glt_x"] = glt_x.astype(np.int32)
        location["glt_y"] = glt_y.astype(np.int32)
    return path


def _rotated_glt(swath_rows: int, swath_cols: int, angle_deg: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """A GLT of a swath rotated by ``angle_deg`` on a map grid big enough to hold it (nearest pixel)."""
    theta = np.deg2rad(angle_deg)
    size = int(np.ceil(np.hypot(swath_rows, swath_cols))) + 2
    yy, xx = np.mgrid[0:size, 0:size] - size / 2.0
    rows = np.round(np.cos(theta) * yy - np.sin(theta) * xx + swath_rows / 2.0 - 0.5).astype(int)
    cols = np.round(np.sin(theta) * yy + np.cos(theta) * xx + swath_cols / 2.0 - 0.5).astype(int)
    inside = (rows >= 0) & (rows < swath_rows) & (cols >= 0) & (cols < swath_cols)
    return np.where(inside, cols + 1, 0), np.where(inside, rows + 1, 0)


@pytest.fixture
def write_emit_rfl():
    """``write_emit_rfl(folder, cube, glt_x, glt_y, ...) -> path`` of a synthetic EMIT L2A RFL granule."""
    return _write_emit_rfl


@pytest.fixture
def rotated_glt():
    """``rotated_glt(swath_rows, swath_cols, angle_deg) -> (glt_x, glt_y)``."""
    return _rotated_glt
