"""Describe a scene: size, wavelengths, georeferencing, nodata and per-band quality flags."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from hsi.errors import InputError
from hsi.jobs.common import band_selection, finish, input_scene, start
from hsi.scene import Scene, Window
from hsi.stats import band_statistics


def _sample_window(scene: Scene, max_pixels: int) -> Window:
    """A central window of at most ``max_pixels`` for the noise-based flags."""
    side = int(np.sqrt(max_pixels))
    height, width = min(scene.n_rows, side), min(scene.n_cols, side)
    return Window((scene.n_rows - height) // 2, (scene.n_cols - width) // 2, height, width)


def band_flags(cube: np.ndarray) -> dict[str, np.ndarray]:
    """Dead / noisy / striped flags and noise std per band of the sampled window."""
    from hsi.estimate.bands import flag_bands

    report = flag_bands(cube)
    return {name: np.asarray(getattr(report, name)) for name in ("dead", "noisy", "striped", "noise_std", "snr_db")
            if hasattr(report, name)}


def describe(scene: Scene, max_pixels: int = 512 * 512, progress: bool = True) -> dict:
    """Everything ``info`` prints, as a dict (also what ``report=`` writes)."""
    stats = band_statistics(scene, progress=progress)
    if stats.valid.sum() == 0:
        raise InputError(f"{scene.describe()}: every pixel is nodata or non-finite")
    from hsi.estimate.stripe_direction import stripe_direction

    # the noise-based flags and the stripe direction come from a bounded central window
    cube = scene.read(_sample_window(scene, max_pixels), physical=True)
    flags = band_flags(cube)
    wavelengths = scene.wavelengths_nm
    return {
        "path": scene.describe(),
        "shape_rows_cols_bands": list(scene.shape),
        "dtype": scene.dtype.name,
        "scale": np.asarray(scene.scale).tolist(),  # one number, or one per band
        "offset": np.asarray(scene.offset).tolist(),
        "units": scene.units,
        "wavelength_range_nm": None if wavelengths is None else [float(wavelengths.min()), float(wavelengths.max())],
        "n_wavelengths": 0 if wavelengths is None else int(wavelengths.size),
        "crs": None if scene.crs is None else (f"EPSG:{scene.crs.to_epsg()}" if scene.crs.to_epsg() else scene.crs.to_wkt()),
        "pixel_size": scene.pixel_size,
        "pixel_size_units": None if scene.crs is None else (scene.crs.linear_units if scene.crs.is_projected else "degrees"),
        "transform": None if scene.transform is None else list(scene.transform)[:6],
        "nodata": scene.nodata,
        "nodata_fraction": stats.nodata_fraction,
        "nonfinite_values": int(stats.nonfinite.sum()),
        "bad_bands_in_header": None if scene.bad_bands is None else np.flatnonzero(scene.bad_bands).tolist(),
        "product": scene.metadata.get("product") if isinstance(scene.metadata, dict) else None,
        "quality_masks": sorted(scene.masks),
        "geolocation": _geolocation_kind(scene),
        "stripe_direction": stripe_direction(cube).as_dict(),
        "bands": {
            "wavelength_nm": wavelengths,
            "valid": stats.valid, "min": stats.minimum, "max": stats.maximum, "mean": stats.mean, "std": stats.std,
            **flags,
        },
    }


def _geolocation_kind(scene: Scene) -> str:
    """How pixels map to the ground: an affine grid, a lookup (GLT, lat/lon arrays), or nothing."""
    if scene.geolocation is not None:
        return f"{scene.geolocation.kind} (swath geometry)"
    return "map grid (affine + CRS)" if scene.transform is not None else "none"


def _band_label(i: int, wavelengths) -> str:
    return f"{i}" + (f" ({wavelengths[i]:.1f} nm)" if wavelengths is not None else "")


def format_summary(info: dict, show_bands: bool) -> str:
    rows, cols, bands = info["shape_rows_cols_bands"]
    lines = [f"{info['path']}", f"  size        {rows} rows x {cols} cols x {bands} bands, {info['dtype']}"]
    if info.get("product"):
        product = info["product"]
        lines.append(f"  product     {product['sensor']} {product['product']} (level {product['level']})")
    if info["wavelength_range_nm"]:
        low, high = info["wavelength_range_nm"]
        lines.append(f"  wavelengths {info['n_wavelengths']} from {low:.1f} to {high:.1f} nm")
    else:
        lines.append("  wavelengths none in the file")
    lines.append(f"  CRS         {info['crs'] or 'none (not georeferenced)'}")
    lines.append(f"  geolocation {info['geolocation']}")
    if info["bad_bands_in_header"]:
        lines.append(f"  bad bands   {len(info['bad_bands_in_header'])} flagged by the product: "
                     + ", ".join(_band_label(i, info['bands']['wavelength_nm']) for i in info["bad_bands_in_header"][:12])
                     + (" ..." if len(info["bad_bands_in_header"]) > 12 else ""))
    if info["quality_masks"]:
        lines.append(f"  masks       {', '.join(info['quality_masks'])}")
    if info["pixel_size"]:
        unit = {"metre": "m", "meter": "m", None: "(no CRS units)"}.get(info["pixel_size_units"], info["pixel_size_units"])
        lines.append(f"  pixel size  {info['pixel_size'][0]:g} x {info['pixel_size'][1]:g} {unit}")
    lines.append(f"  nodata      {info['nodata']}  ({100 * info['nodata_fraction']:.2f}% of pixels empty)")
    if info["nonfinite_values"]:
        lines.append(f"  non-finite  {info['nonfinite_values']} values (NaN/inf), treated as nodata")
    band = info["bands"]
    wavelengths = band["wavelength_nm"]
    for flag in ("dead", "noisy", "striped"):
        if flag in band:
            flagged = np.flatnonzero(band[flag])
            shown = ", ".join(_band_label(i, wavelengths) for i in flagged[:12])
            more = f" (+{flagged.size - 12} more)" if flagged.size > 12 else ""
            lines.append(f"  {flag:<11} {flagged.size} bands" + (f": {shown}{more}" if flagged.size else ""))
    direction = info.get("stripe_direction")
    if direction:
        lines.append(f"  stripes     {_direction_words(direction)}")
    if show_bands:
        lines.append("  band  wavelength        min        max       mean        std  flags")
        for i in range(bands):
            marks = ",".join(f for f in ("dead", "noisy", "striped") if f in band and band[f][i])
            lines.append(
                f"  {_band_label(i, wavelengths):<20} {band['min'][i]:10.4g} {band['max'][i]:10.4g} "
                f"{band['mean'][i]:10.4g} {band['std'][i]:10.4g}  {marks}"
            )
    return "\n".join(lines)


def _direction_words(direction: dict) -> str:
    """The stripe direction in words (the striped-band flags above test columns only)."""
    angle, contrast = direction["angle_deg_from_columns"], direction["contrast"]
    if not direction["found"]:
        return f"no direction of band-specific lines stands out (best {angle:g} deg, contrast {contrast:g})"
    if direction["along_columns"]:
        return f"band-specific lines along the columns (contrast {contrast:g})"
    return (f"band-specific lines at {angle:g} deg to the columns (contrast {contrast:g}; the striped-band "
            "test above reads columns only)")


def run(cfg: DictConfig) -> dict:
    """Print the description; with ``report=`` / ``quicklook=`` also write them (checked before the pass).

    ``info``'s report is its output: the JSON at ``report=`` has the keys every report has, the
    description under ``results``. A ``quicklook=`` without ``report=`` gets its report by the
    path rule (``<quicklook stem>_report.json``).
    """
    scene = input_scene(cfg)
    job = None
    if cfg.report or cfg.quicklook:  # outputs are checked before the statistics pass over the whole scene
        job = start("info", cfg, cfg.report or cfg.quicklook, inputs={"input": scene}, scene_output=False,
                    report=cfg.report or None)
    if cfg.bands is not None:
        scene = scene.select_bands(band_selection(cfg.bands))
    info = describe(scene, max_pixels=int(cfg.max_sample_pixels), progress=bool(cfg.progress))
    print(format_summary(info, show_bands=bool(cfg.band_table)))
    if job is None:
        return info
    started = job.timed("describe", job.started)
    if job.quicklook:
        from hsi.viz.overview import save_scene_quicklook

        # the whole scene, decimated: info describes all of it (bounded reads, see rgb_overview)
        print(f"quicklook written to {save_scene_quicklook(scene, job.quicklook)}")
        job.timed("quicklook", started)
    report = finish(job, info)
    print(f"report written to {job.outputs['report']}")
    return report
