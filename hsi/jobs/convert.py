"""Convert a scene between formats (ENVI, GeoTIFF/COG, HDF5, MAT, NPY), keeping all metadata."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hsi.errors import InputError
from hsi.io import create_writer
from hsi.jobs.common import complete_output, input_scene, prepare_output, read_options


def run(cfg: DictConfig) -> dict:
    scene = input_scene(cfg)
    if cfg.bands is not None:
        scene = scene.select_bands(list(cfg.bands))
    output = prepare_output(cfg.output, cfg.overwrite, inputs=(scene.path,) if scene.path else ())
    template = scene.derived(dtype=cfg.dtype) if cfg.dtype else scene.derived()
    replace_nonfinite = template.nodata is not None and template.dtype.kind == "f"
    windows = list(scene.windows(scene.block_rows_for(int(cfg.block_mb) * 2**20)))
    nonfinite = valid = 0
    with create_writer(output, template, overwrite=cfg.overwrite, format=cfg.format,
                       inputs=(scene.path,) if scene.path else (), **read_options(cfg, "write")) as writer:
        for window in tqdm(windows, desc=f"convert -> {output.name}", unit="block", disable=not cfg.progress):
            block = scene.read(window)
            if block.dtype.kind == "f":
                bad = ~np.isfinite(block)
                nonfinite += int(bad.sum())
                if replace_nonfinite and bad.any():
                    block = np.where(bad, np.asarray(template.nodata, block.dtype), block)
            valid += int((~scene.nodata_mask_of(block)).sum())
            writer.write(window, block)
        if valid == 0:  # raised inside the block so the writer discards the file
            raise InputError(f"{scene.describe()}: every pixel is nodata or non-finite; nothing written")
    if nonfinite:
        handling = f"written as the nodata value {template.nodata}" if replace_nonfinite else "kept as NaN (no nodata value)"
        print(f"warning: {scene.describe()} has {nonfinite} non-finite values; {handling}")
    complete_output("convert", cfg, output)
    print(f"wrote {writer.path} ({scene.n_rows} x {scene.n_cols} x {scene.n_bands}, {template.dtype.name})")
    return {"output": str(writer.path), "nonfinite_values": nonfinite}
