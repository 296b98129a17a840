"""Convert a scene between formats (ENVI, GeoTIFF/COG, HDF5, MAT, NPY), keeping all metadata."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from hsi.errors import InputError, WriteError
from hsi.io import create_writer, open_scene
from hsi.io.cast import plan_cast
from hsi.io.guard import input_files, same_file
from hsi.io.record import scene_files, wrote_unchanged
from hsi.io.products.glt import orthorectified
from hsi.jobs.ortho import wants_ortho
from hsi.jobs.common import band_selection, finish, input_scene, read_options, save_central_quicklook, start
from hsi.scene import Scene


def run(cfg: DictConfig) -> dict:
    scene = input_scene(cfg)
    if wants_ortho(scene, cfg.ortho):  # swath products (EMIT, AVIRIS): onto the GLT's map grid
        scene = orthorectified(scene)
    # which quality layers are single layers is decided on every band: a per-band layer (EnMAP's
    # pixel mask) cut to one selected band is still per band
    layers, per_band = mask_layers(scene) if cfg.get("masks", True) else ([], [])
    if cfg.bands is not None:
        scene = scene.select_bands(band_selection(cfg.bands))
    # read before start(), which forgets the replaced output's completion record
    input_paths = [Path(str(p)).expanduser() for p in (scene.path, cfg.get("input")) if p not in (None, "", "sample")]
    stale = None if layers or cfg.output in (None, "") else stale_masks(Path(str(cfg.output)).expanduser(), input_paths)
    extra = {"masks": masks_path(Path(str(cfg.output)).expanduser())} if layers else None
    job = start("convert", cfg, cfg.output, inputs={"input": scene}, extra=extra)
    output = job.outputs["output"]
    windows = list(scene.windows(scene.block_rows_for(int(cfg.block_mb) * 2**20)))
    # dtype= is checked against the values before anything is written (one extra read pass
    # when the cast could lose range, fractions or NaNs).
    cast = plan_cast(scene, cfg.dtype, scale=cfg.get("scale"), offset=cfg.get("offset"), clip=bool(cfg.get("clip")),
                     nodata=cfg.get("nodata"), blocks=(scene.read(window) for window in windows))
    template = cast.template
    nonfinite = valid = 0
    sources = (scene.path,) if scene.path else ()
    try:
        # the masks stream beside the cube (one pass: a pixel without data in the cube is
        # MASKS_NODATA in the masks); either writer failing discards both (complete or absent):
        # the masks writer is the inner one, so it renames its file into place before the cube's
        with create_writer(output, template, overwrite=cfg.overwrite, format=cfg.format, inputs=sources,
                           **read_options(cfg, "write")) as writer, \
                (masks_writer(scene, layers, job.outputs["masks"], overwrite=bool(cfg.overwrite), inputs=sources)
                 if layers else nullcontext()) as flags:
            for window in tqdm(windows, desc=f"convert -> {output.name}", unit="block", disable=not cfg.progress):
                block = scene.read(window)
                if block.dtype.kind == "f":
                    nonfinite += int((~np.isfinite(block)).sum())
                missing = scene.nodata_mask_of(block)
                valid += int((~missing).sum())
                writer.write(window, cast.apply(block))
                if flags is not None:
                    flags.write(window, mask_block(scene, layers, window, missing.all(axis=2)))
            if valid == 0:  # raised inside the block so the writers discard the files
                raise InputError(f"{scene.describe()}: every pixel is nodata or non-finite; nothing written")
    except WriteError:
        if layers:  # the masks were renamed into place before the cube failed
            Path(job.outputs["masks"]).unlink(missing_ok=True)
        raise
    if stale is not None:  # the new cube is in place: its predecessor's masks would pass for its own
        try:
            stale.unlink()
        except OSError as error:
            raise WriteError(f"{stale}: could not remove the replaced cube's quality layers ({error.strerror})") from None
        print(f"removed {stale}: the quality layers of the cube this run replaced (this run writes none)")
    if nonfinite:
        handling = (f"written as the nodata value {template.nodata}" if template.nodata is not None
                    and not np.isnan(template.nodata) else "kept as NaN (no nodata value)")
        print(f"warning: {scene.describe()} has {nonfinite} non-finite values; {handling}")
    started = job.timed("convert", job.started)
    results = {"written": str(writer.path), "shape_rows_cols_bands": [scene.n_rows, scene.n_cols, scene.n_bands],
               "dtype": template.dtype.name, "scale": template.scale, "offset": template.offset,
               "nodata": template.nodata, "nonfinite_values": nonfinite}
    if per_band:
        results["masks_not_written"] = {"layers": per_band, "why": "one flag per band and pixel (not a single layer)"}
        print(f"warning: per-band quality layers not written: {', '.join(per_band)} (results.masks_not_written)")
    if stale is not None:
        results["stale_masks_removed"] = {"path": str(stale), "why": "written with the replaced cube (its completion "
                                          "record lists it, unchanged); this run writes no quality layers"}
    if layers:
        results["masks"] = {"written": str(job.outputs["masks"]), "layers": list(layers), "nodata": MASKS_NODATA}
    try:
        if job.quicklook:
            save_central_quicklook(open_scene(writer.path), job.quicklook)
            job.timed("quicklook", started)
        report = finish(job, results)
    except WriteError as error:
        # The converted file, its masks, report and quicklook are one result: without the others the
        # output goes too (complete or absent; a re-run is cheap and the input is untouched).
        for path in (*scene_files(writer.path), job.outputs.get("masks"), job.quicklook, job.outputs["report"]):
            if path is not None:
                Path(path).unlink(missing_ok=True)
        raise WriteError(f"{output}: could not finish the output: {error}") from None
    print(f"wrote {writer.path} ({scene.n_rows} x {scene.n_cols} x {scene.n_bands}, {template.dtype.name}"
          + (f", scale {template.scale:g}, offset {template.offset:g}" if cast.requantise else "") + ")"
          + (f", its quality layers ({', '.join(layers)}) to {job.outputs['masks']}" if layers else "")
          + f"; report {job.outputs['report']}")
    return report


#: The masks file's value where the cube has no data.
MASKS_NODATA = 255


def masks_path(output: Path) -> Path:
    """``<OUT stem>_masks.tif`` beside the output."""
    stem = output.with_suffix("") if output.suffix else output
    return stem.with_name(stem.name + "_masks.tif")


def stale_masks(output: Path, inputs: list[Path]) -> Path | None:
    """The ``<OUT stem>_masks.tif`` of an earlier run, to remove once the new cube (which has no
    quality layers) is in place, or None when there is none; refused when it is not that run's file.

    Beside a new cube, an older masks file would be taken for the new cube's flags. Only the file
    the replaced output's completion record lists, unchanged since written, is removed; a file of
    the input, or one no record vouches for, is refused in one line before any work.
    """
    masks = masks_path(output)
    if not masks.exists():
        return None
    if any(same_file(masks, file) for source in inputs for file in input_files(source)) or any(
            source.is_dir() and masks.resolve().is_relative_to(source.resolve()) for source in inputs):
        raise InputError(f"{masks}: a file of the input sits where {output.name}'s quality layers go, and this run "
                         "writes none; it would be taken for the new cube's flags: choose another output=")
    if not wrote_unchanged(output, masks):
        raise InputError(f"{masks}: exists beside the output but no completion record of {output.name} lists it "
                         "unchanged; this run writes no quality layers and it would be taken for the new cube's flags: "
                         "move it away or choose another output=")
    return masks


def mask_layers(scene: Scene) -> tuple[list[str], list[str]]:
    """The scene's single-layer quality masks (written beside the cube) and its per-band ones (not written)."""
    single = [name for name, reader in scene.masks.items() if reader.shape[2] == 1]
    return single, [name for name in scene.masks if name not in single]


def masks_writer(scene: Scene, layers: list[str], path: Path, *, overwrite: bool, inputs: tuple):
    """The writer of ``<OUT stem>_masks.tif``: one uint8 band per quality layer, on the cube's grid,
    so converting a product keeps its cloud / cirrus / water flags."""
    template = scene.derived(n_bands=len(layers), dtype=np.uint8, band_names=list(layers), nodata=MASKS_NODATA, masks={})
    return create_writer(path, template, overwrite=overwrite, format="geotiff", inputs=inputs)


def mask_block(scene: Scene, layers: list[str], window, no_data: np.ndarray) -> np.ndarray:
    """The layers over ``window``: 1 flagged, 0 not, :data:`MASKS_NODATA` where the cube has no data
    (a map pixel outside the swath is not 'clear')."""
    block = np.stack([scene.read_mask(name, window) for name in layers], axis=2).astype(np.uint8)
    block[no_data] = MASKS_NODATA
    return block
