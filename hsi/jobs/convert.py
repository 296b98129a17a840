"""Convert a scene between formats (ENVI, GeoTIFF/COG, HDF5, MAT, NPY), keeping all metadata."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hsi.errors import InputError
from hsi.io import create_writer
from hsi.io.cast import plan_cast
from hsi.io.products.glt import orthorectified
from hsi.jobs.common import complete_output, input_scene, prepare_output, read_options


def run(cfg: DictConfig) -> dict:
    scene = input_scene(cfg)
    if cfg.ortho and scene.geolocation is not None:  # swath products (EMIT, AVIRIS): onto the GLT's map grid
        scene = orthorectified(scene)
    if cfg.bands is not None:
        scene = scene.select_bands(list(cfg.bands))
    output = prepare_output(cfg.output, cfg.overwrite, inputs=(scene.path,) if scene.path else ())
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
    complete_output("convert", cfg, output)
    print(f"wrote {writer.path} ({scene.n_rows} x {scene.n_cols} x {scene.n_bands}, {template.dtype.name}"
          + (f", scale {template.scale:g}, offset {template.offset:g}" if cast.requantise else "") + ")")
    return {"output": str(writer.path), "nonfinite_values": nonfinite}
