"""The reference toolbox's definitions of six classical methods, re-derived in numpy for comparison.

The pansharpening bench scores hsi's ``gsa``, ``awlp``, ``mtf_glp_hpm``, ``mtf_glp_fs``,
``bdsd_pc`` and ``mtf_glp`` beside these on the same reduced-resolution pairs (table
``toolbox``), so that a departure of hsi from the published definitions shows as a figure. Each
function follows its MATLAB file of the 2021 toolbox step by step, with the toolbox's own
building blocks: the 23-tap interpolator as two cascaded half-band stages with circular edges
(``interp23tap.m``), MTF filters designed in the frequency domain and windowed (``genMTF.m``: a
41 x 41 ``fwind1`` of a Gaussian with a Kaiser window, applied with replicated edges), MATLAB's
``imresize`` (nearest for decimation, antialiased bicubic otherwise). ``mtf_glp`` is the 2015
toolbox's ``MTF_GLP.m`` (the PAN equalised by its own deviation). The functions take the
*interpolated* MS ``ms_up``, the PAN, the original MS ``ms`` and the sensor, as the toolbox's
main script passes them; nothing in hsi's methods uses them.

References
----------
G. Vivone et al., "A new benchmark based on recent advances in multispectral pansharpening",
IEEE GRSM 9(1), 2021. G. Vivone et al., "A critical comparison among pansharpening algorithms",
IEEE TGRS 53(5), 2015.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage as ndi
import scipy.optimize

from hsi.degrade.mtf import sensor_mtf

#: ``interp23tap.m``'s CDF23 half-band taps from the centre outwards (published values).
_HALF_BAND = 2 * np.array([0.5, 0.305334091185, 0, -0.072698593239, 0, 0.021809577942, 0, -0.005192756653, 0,
                           0.000807762146, 0, -0.000060081482])
_B3 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def interp23tap(image: np.ndarray, ratio: int) -> np.ndarray:
    """Two-fold half-band interpolation repeated ``log2(ratio)`` times, circular edges; the first
    stage puts the input on odd samples, the later ones on even samples (pixel i lands at 4 i + 2)."""
    taps = np.concatenate([_HALF_BAND[:0:-1], _HALF_BAND])
    out = np.asarray(image, dtype=np.float64)
    for stage in range(int(round(math.log2(ratio)))):
        grid = np.zeros((2 * out.shape[0], 2 * out.shape[1]) + out.shape[2:])
        start = 1 if stage == 0 else 0
        grid[start::2, start::2] = out
        for axis in (0, 1):
            grid = ndi.correlate1d(grid, taps, axis=axis, mode="wrap")
        out = grid
    return out


def mtf_filter(nyquist_gain: float, ratio: int, size: int = 41) -> np.ndarray:
    """``genMTF.m``: a Gaussian frequency response of the given gain at ``1/ratio`` of the band,
    sampled on ``size`` x ``size`` frequencies, inverted and windowed by a radial Kaiser window
    (``fwind1(Hd, kaiser(N))``, beta 0.5)."""
    alpha = math.sqrt(((size - 1) * (1.0 / ratio / 2)) ** 2 / (-2 * math.log(nyquist_gain)))
    offsets = np.arange(size) - (size - 1) / 2
    response = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * alpha**2))
    kernel = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(response / response.max()))))
    positions = offsets * (2 / (size - 1))
    radius = np.hypot(positions[:, None], positions[None, :])
    window = np.interp(radius, positions, np.kaiser(size, 0.5))
    window[radius > 1] = 0.0
    return kernel * window


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``imfilter(image, kernel, 'replicate')``."""
    return ndi.correlate(image, kernel, mode="nearest")


def _decimate(image: np.ndarray, ratio: int) -> np.ndarray:
    """``imresize(image, 1/ratio, 'nearest')``."""
    return image[ratio // 2 :: ratio, ratio // 2 :: ratio]


def _wavelet_lowpass(image: np.ndarray, ratio: int) -> np.ndarray:
    """The approximation of ``ceil(log2(ratio))`` levels of the non-decimated B3-spline wavelet
    (analysis and synthesis: ``2 * levels`` B3 splines), symmetric edges (``ndwt2``'s 'sym')."""
    taps = _B3
    for _ in range(2 * math.ceil(math.log2(ratio)) - 1):
        taps = np.convolve(taps, _B3)
    return ndi.correlate1d(ndi.correlate1d(image, taps, axis=0, mode="reflect"), taps, axis=1, mode="reflect")


def _cubic(distance: np.ndarray) -> np.ndarray:
    x = np.abs(distance)
    return np.where(x <= 1, (1.5 * x - 2.5) * x * x + 1, np.where(x <= 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


def _resize_matrix(length: int, scale: float) -> np.ndarray:
    """MATLAB ``imresize`` along one axis (bicubic; the kernel stretched by 1/scale when shrinking)."""
    n_out = int(round(length * scale))
    centres = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)
    stretch = 1 / scale if scale < 1 else 1.0
    taps = int(math.ceil(4 * stretch)) + 2
    index = np.floor(centres - 2 * stretch)[:, None] + np.arange(taps)[None, :]
    weights = _cubic((centres[:, None] - index) / stretch) / stretch
    weights /= weights.sum(axis=1, keepdims=True)
    index = np.mod(index - 1, 2 * length)
    index = np.where(index < length, index, 2 * length - 1 - index).astype(int)
    matrix = np.zeros((n_out, length))
    np.add.at(matrix, (np.repeat(np.arange(n_out), taps), index.ravel()), weights.ravel())
    return matrix


def imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """``imresize(image, scale)`` (bicubic, antialiased when shrinking) of a (rows, cols[, bands]) image."""
    rows, cols = _resize_matrix(image.shape[0], scale), _resize_matrix(image.shape[1], scale)
    return np.einsum("ij,jk...,lk->il...", rows, image, cols)


def _pan_lowpass(pan: np.ndarray, nyquist_gain: float, ratio: int) -> np.ndarray:
    """One MTF-GLP level: MTF filter, nearest decimation, ``interp23tap``."""
    return interp23tap(_decimate(_filter(pan, mtf_filter(nyquist_gain, ratio)), ratio), ratio)


def gsa(ms_up, pan, ms, ratio, sensor):
    """``GSA.m``."""
    up0 = ms_up - ms_up.mean(axis=(0, 1))
    ms0 = ms - ms.mean(axis=(0, 1))
    pan0 = pan - pan.mean()
    pan_low = _decimate(_wavelet_lowpass(pan0, ratio), ratio)
    design = np.column_stack([ms0.reshape(-1, ms.shape[2]), np.ones(pan_low.size)])
    alpha = np.linalg.lstsq(design, pan_low.ravel(), rcond=None)[0]
    intensity = up0 @ alpha[:-1] + alpha[-1]
    intensity0 = intensity - intensity.mean()
    gains = np.array([np.cov(intensity0.ravel(), up0[:, :, k].ravel())[0, 1] / np.var(intensity0, ddof=1)
                      for k in range(ms_up.shape[2])])
    fused = up0 + (pan0 - intensity0)[:, :, None] * gains
    return fused - fused.mean(axis=(0, 1)) + ms_up.mean(axis=(0, 1))


def awlp(ms_up, pan, ms, ratio, sensor):
    """``AWLP.m`` (2021): PAN equalised with the deviation of its bicubic reduce-expand copy."""
    shares = ms_up / (ms_up.mean(axis=2, keepdims=True) + np.finfo(float).eps)
    spread = imresize(imresize(pan, 1 / ratio), ratio).std()
    fused = np.empty_like(ms_up)
    for k in range(ms_up.shape[2]):
        band = ms_up[:, :, k]
        equalised = (pan - pan.mean()) * band.std() / spread + band.mean()
        fused[:, :, k] = band + (equalised - _wavelet_lowpass(equalised, ratio)) * shares[:, :, k]
    return fused


def mtf_glp_hpm(ms_up, pan, ms, ratio, sensor):
    """``MTF_GLP_HPM.m`` (2021): PAN's deviation measured after a Gaussian of Nyquist gain 0.3."""
    spread = _filter(pan, mtf_filter(0.3, ratio)).std()
    gains = sensor_mtf(sensor).gains(ms_up.shape[2])
    fused = np.empty_like(ms_up)
    for k in range(ms_up.shape[2]):
        band = ms_up[:, :, k]
        equalised = (pan - pan.mean()) * band.std() / spread + band.mean()
        fused[:, :, k] = band * equalised / (_pan_lowpass(equalised, gains[k], ratio) + np.finfo(float).eps)
    return fused


def mtf_glp_fs(ms_up, pan, ms, ratio, sensor):
    """``MTF_GLP_FS.m``: gains ``cov(MS~_k, P) / cov(P_k,L, P)``, the raw PAN injected."""
    gains = sensor_mtf(sensor).gains(ms_up.shape[2])
    fused = np.empty_like(ms_up)
    for k in range(ms_up.shape[2]):
        low = _pan_lowpass(pan, gains[k], ratio)
        gain = np.cov(ms_up[:, :, k].ravel(), pan.ravel())[0, 1] / np.cov(low.ravel(), pan.ravel())[0, 1]
        fused[:, :, k] = ms_up[:, :, k] + gain * (pan - low)
    return fused


def mtf_glp(ms_up, pan, ms, ratio, sensor):
    """``MTF_GLP.m`` (2015): PAN equalised by its own deviation, unit gains."""
    gains = sensor_mtf(sensor).gains(ms_up.shape[2])
    fused = np.empty_like(ms_up)
    for k in range(ms_up.shape[2]):
        band = ms_up[:, :, k]
        equalised = (pan - pan.mean()) * band.std() / pan.std() + band.mean()
        fused[:, :, k] = band + equalised - _pan_lowpass(equalised, gains[k], ratio)
    return fused


def bdsd_pc(ms_up, pan, ms, ratio, sensor):
    """``BDSD_PC.m``: per band, ``lsqlin`` of the MS detail on [PAN, MS] at reduced scale with the
    PAN's coefficient >= 0 and the bands' <= 0 (solved as non-negative least squares)."""
    model = sensor_mtf(sensor)
    gains = model.gains(ms_up.shape[2])
    reference = imresize(ms_up, 1 / ratio)
    ms_low = np.stack([_filter(reference[:, :, k], mtf_filter(gains[k], ratio)) for k in range(reference.shape[2])], axis=2)
    pan_low = _decimate(_filter(pan, mtf_filter(model.pan_gain, ratio)), ratio)
    design = np.column_stack([pan_low.ravel(), -ms_low.reshape(-1, ms_low.shape[2])])
    full = np.column_stack([pan.ravel(), -ms_up.reshape(-1, ms_up.shape[2])])
    fused = np.empty_like(ms_up)
    for k in range(ms_up.shape[2]):
        coefficients = scipy.optimize.nnls(design, (reference[:, :, k] - ms_low[:, :, k]).ravel(), maxiter=1000)[0]
        fused[:, :, k] = ms_up[:, :, k] + (full @ coefficients).reshape(pan.shape)
    return fused


TOOLBOX_METHODS = {"gsa": gsa, "awlp": awlp, "mtf_glp_hpm": mtf_glp_hpm, "mtf_glp_fs": mtf_glp_fs, "bdsd_pc": bdsd_pc,
                   "mtf_glp": mtf_glp}


def toolbox_fusion(name: str, ms: np.ndarray, pan: np.ndarray, ratio: int, sensor: str) -> np.ndarray:
    """The toolbox definition of method ``name`` applied to a (low-resolution MS, PAN) pair."""
    return TOOLBOX_METHODS[name](interp23tap(ms, ratio), np.asarray(pan, dtype=np.float64),
                                 np.asarray(ms, dtype=np.float64), ratio, sensor)
