"""Wald's reduced-resolution protocol and full-resolution assessment of pansharpening.

Reduced resolution: the MS and the PAN are both degraded by the ratio with the sensor MTF
(:func:`hsi.degrade.mtf.degrade_resolution`, :func:`~hsi.degrade.mtf.degrade_pan`), fused,
and the result compared with the original MS, which plays the high-resolution reference.
Full resolution: no reference; the no-reference indexes D_lambda, D_s and QNR (and HQNR)
compare the fused cube with the MS and the PAN themselves.

References
----------
L. Wald, T. Ranchin, M. Mangolini, "Fusion of satellite images of different spatial
resolutions: assessing the quality of resulting images", PE&RS 63(6), 1997.
G. Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from hsi.arrays import Array, infer_ratio
from hsi.degrade.mtf import degrade_pan, degrade_resolution


class ReducedPair(NamedTuple):
    """Inputs of a reduced-resolution experiment: fuse ``ms`` with ``pan``, compare with ``reference``."""

    ms: Array
    pan: Array
    reference: Array
    ratio: int


def reduced_resolution_pair(ms: Array, pan: Array, *, sensor: str | None = None, ratio: int | None = None) -> ReducedPair:
    """Degrade a full-resolution (MS, PAN) pair by its ratio with the sensor's MTF.

    Parameters
    ----------
    ms : (rows, cols, bands) low-resolution MS; becomes the reference.
    pan : (ratio*rows, ratio*cols) PAN, or (ratio*rows, ratio*cols, bands_m) high-resolution MS
        (HS + MS fusion), degraded with the PAN's MTF.
    sensor : MTF model name (see :data:`hsi.degrade.mtf.SENSOR_MTF`), default "generic".

    Returns
    -------
    ReducedPair with ``ms`` (rows/ratio, cols/ratio, bands), ``pan`` (rows, cols), ``reference``
    = the input ``ms`` (as float), and the ratio.
    """
    pan2d = pan[:, :, 0] if pan.ndim == 3 and pan.shape[2] == 1 else pan
    r = infer_ratio(tuple(ms.shape[:2]), tuple(pan2d.shape[:2]), ratio)
    sensor = sensor or "generic"
    ms_f = ms if isinstance(ms, torch.Tensor) else np.asarray(ms, dtype=np.float64)
    pan_f = pan2d if isinstance(pan2d, torch.Tensor) else np.asarray(pan2d, dtype=np.float64)
    ms_low = degrade_resolution(ms_f, r, sensor)
    pan_low = degrade_pan(pan_f, r, sensor)
    return ReducedPair(ms_low, pan_low, ms_f, r)


def _metrics():
    from hsi import metrics  # imported late: the metrics package is optional for the methods

    return metrics


def reduced_resolution_indexes(fused: Array, reference: Array, ratio: int) -> dict[str, float]:
    """Q2n, ERGAS, SAM (degrees) and SCC of a fused cube against the reference (both (rows, cols, bands))."""
    metrics = _metrics()
    return {
        "q2n": float(metrics.q2n(reference, fused)),
        "ergas": float(metrics.ergas(reference, fused, ratio=ratio)),
        "sam_deg": float(metrics.sam(reference, fused)),
        "scc": float(metrics.scc(reference, fused)),
    }


def full_resolution_indexes(fused: Array, ms: Array, pan: Array, *, ratio: int, sensor: str | None = None) -> dict[str, float]:
    """D_lambda, D_s, QNR (Alparone et al. 2008) and HQNR (Aiazzi et al. 2014) at full resolution.

    ``fused`` (ratio*rows, ratio*cols, bands), ``ms`` (rows, cols, bands), ``pan``
    (ratio*rows, ratio*cols). D_lambda and D_s follow the definition of Vivone et al.'s toolbox
    (see :mod:`hsi.metrics.pansharp`: blocks of 32 on the PAN grid, EXP as the MS side, the PAN
    reduced by bicubic resizing); Khan's D_lambda inside HQNR uses the sensor's MS MTF.
    """
    metrics = _metrics()
    sensor = sensor or "generic"
    d_lambda = float(metrics.d_lambda(fused, ms))
    d_s = float(metrics.d_s(fused, ms, pan, ratio))
    return {
        "d_lambda": d_lambda,
        "d_s": d_s,
        "qnr": (1.0 - d_lambda) * (1.0 - d_s),
        "hqnr": float(metrics.hqnr(fused, ms, pan, ratio, ms_mtf=sensor)),
    }
