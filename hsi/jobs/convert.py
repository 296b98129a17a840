"""Convert a scene between formats (ENVI, GeoTIFF/COG, HDF5, MAT, NPY), keeping all metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hsi.errors import InputError, WriteError
from hsi.io import create_writer, open_scene
from hsi.io.cast import plan_cast
from hsi.io.record import scene_files
from hsi.io.products.glt import orthorectified
from hsi.jobs.ortho import wants_ortho
from hsi.jobs.common import band_selection, finish, input_scene, read_options, save_central_quicklook, start


def run(cfg: DictConfig) -> dict:
    scene = input_scene(cfg)
    if wants_ortho(scene, cfg.ortho):  # swath products (EMIT, AVIRIS): onto the GLT's map grid
        scene = orthorectified(scene)
    if cfg.bands is not None:
        scene = scene.select_bands(band_selection(cfg.bands))
    job = start("convert", cfg, cfg.output, inputs={"input": scene})
    output = job.outputs["output"]
    windows = list(scene.windows(scene.block_rows_for(int(cfg.block_mb) * 2**20)))
    # dtype= is checked against the values before anything is written (one extra read pass
    # when the cast could lose range, fractions or NaNs).
    cast = plan_cast(scene, cfg.dtype, scale=cfg.get("scale"), offset=cfg.get("offset"), clip=bool(cfg.get("clip")),
                     nodata=cfg.get("nodata"), blocks=(scene.read(window) for window in windows))
    template = cast.template
    nonfinite = valid = 0
    with create_writer(output, template, overwrite=cfg.overwrite, format=cfg.format,
                       inputs=(scene.path,) if scene.path else (), **read_options(cfg, "write")) as writer:
        for window in tqdm(windows, desc=f"convert -> {output.name}", unit="block", disable=not cfg.progress):
            block = scene.read(window)
            if block.dtype.kind == "f":
                nonfinite += int((~np.isfinite(block)).sum())
            valid += int((~scene.nodata_mask_of(block)).sum())
            writer.write(window, cast.apply(block))
        if valid == 0:  # raised inside the block so the writer discards the file
            raise InputError(f"{scene.describe()}: every pixel is nodata or non-finite; nothing written")
    if nonfinite:
        handling = (f"written as the nodata value {template.nodata}" if template.nodata is not None
                    and not np.isnan(template.nodata) else "kept as NaN (no nodata value)")
        print(f"warning: {scene.describe()} has {nonfinite} non-finite values; {handling}")
    started = job.timed("convert", job.started)
    results = {"written": str(writer.path), "shape_rows_cols_bands": [scene.n_rows, scene.n_cols, scene.n_bands],
               "dtype": template.dtype.name, "scale": template.scale, "offset": template.offset,
               "nodata": template.nodata, "nonfinite_values": nonfinite}
    try:
        if job.quicklook:
            save_central_quicklook(open_scene(writer.path), job.quicklook)
            job.timed("quicklook", started)
        report = finish(job, results)
    except WriteError as error:
        # The converted file, its report and quicklook are one result: without the others the
        # output goes too (complete or absent; a re-run is cheap and the input is untouched).
        for path in (*scene_files(writer.path), job.quicklook, job.outputs["report"]):
            if path is not None:
                Path(path).unlink(missing_ok=True)
        raise WriteError(f"{output}: could not finish the output: {error}") from None
    print(f"wrote {writer.path} ({scene.n_rows} x {scene.n_cols} x {scene.n_bands}, {template.dtype.name}"
          + (f", scale {template.scale:g}, offset {template.offset:g}" if cast.requantise else "") + ")"
          + f"; report {job.outputs['report']}")
    return report
