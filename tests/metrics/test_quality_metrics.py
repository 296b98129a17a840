"""Full-reference quality metrics against hand-computed and reference values."""

import numpy as np
import pytest
import torch

from hsi.errors import InputError, ParameterError
from hsi.metrics import ergas, mpsnr, mssim, psnr_per_band, rmse, sam, ssim_per_band


@pytest.fixture
def cube(rng):
    """(48, 40, 6) float64 cube in [0, 1] with spatial structure."""
    yy, xx = np.mgrid[0:48, 0:40] / 7.0
    maps = np.stack([np.sin(yy) ** 2, np.cos(xx) ** 2, (yy * xx / 40) % 1.0], axis=-1)
    spectra = rng.uniform(0.1, 1.0, size=(3, 6))
    out = maps @ spectra
    return out / out.max()


def test_psnr_of_known_gaussian_noise(rng):
    clean = rng.uniform(0, 1, size=(128, 128, 8))
    clean[0, 0, 0] = 1.0
    noise = rng.normal(0, 10 / 255, size=clean.shape)
    noise -= noise.mean(axis=(0, 1))
    noise *= (10 / 255) / np.sqrt((noise**2).mean(axis=(0, 1)))  # exact per-band MSE
    per_band = psnr_per_band(clean, clean + noise)
    np.testing.assert_allclose(per_band, 20 * np.log10(255 / 10), atol=1e-9)
    assert mpsnr(clean, clean + noise) == pytest.approx(28.1308, abs=1e-4)
    # a peak of 2 adds 20 log10(2) dB
    assert mpsnr(clean, clean + noise, data_range=2.0) == pytest.approx(28.1308 + 20 * np.log10(2), abs=1e-4)


def test_psnr_default_range_uses_global_max_and_negative_min(rng):
    reference = rng.uniform(-1.0, 3.0, size=(16, 16, 3))
    estimate = reference + 0.1
    expected = 10 * np.log10((reference.max() - reference.min()) ** 2 / 0.01)
    assert mpsnr(reference, estimate) == pytest.approx(expected)
    assert np.isinf(psnr_per_band(reference, reference)).all()


def test_ssim_matches_scikit_image(cube, rng):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    noisy = cube + rng.normal(0, 0.05, size=cube.shape)
    for data_range in (1.0, 2.5):
        expected = skimage_metrics.structural_similarity(cube, noisy, data_range=data_range, channel_axis=-1)
        assert mssim(cube, noisy, data_range=data_range) == pytest.approx(expected, abs=1e-6)
    per_band = [skimage_metrics.structural_similarity(cube[..., b], noisy[..., b], data_range=1.0) for b in range(6)]
    np.testing.assert_allclose(ssim_per_band(cube, noisy), per_band, atol=1e-6)
    assert mssim(cube, cube) == pytest.approx(1.0)


def test_sam_known_angles():
    reference = np.array([[[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]])  # (1, 2, 3) cube
    orthogonal = np.array([[[0.0, 5.0, 0.0], [0.0, 0.0, 2.0]]])
    assert sam(reference, orthogonal) == pytest.approx(90.0)
    assert sam(reference, 3.0 * reference) == pytest.approx(0.0, abs=1e-12)
    mixed = np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # 45 degrees, then a zero pixel (ignored)
    assert sam(reference, mixed) == pytest.approx(45.0)
    assert np.isnan(sam(np.zeros((2, 3)), np.ones((2, 3))))


def test_ergas_hand_formula(cube, rng):
    estimate = cube + rng.normal(0, 0.02, size=cube.shape)
    rmse_b = np.sqrt(((cube - estimate) ** 2).mean(axis=(0, 1)))
    mean_b = cube.mean(axis=(0, 1))
    expected = 100 / 4 * np.sqrt(np.mean((rmse_b / mean_b) ** 2))
    assert ergas(cube, estimate, ratio=4) == pytest.approx(expected, rel=1e-12)
    assert ergas(cube, estimate) == pytest.approx(4 * expected, rel=1e-12)
    assert ergas(cube, cube, 4) == 0.0


def test_rmse_hand_value():
    reference = np.zeros((2, 2, 2))
    estimate = reference.copy()
    estimate[0, 0, :] = 2.0
    assert rmse(reference, estimate) == pytest.approx(1.0)


def test_numpy_and_torch_inputs_agree(cube, rng):
    estimate = cube + rng.normal(0, 0.03, size=cube.shape)
    ref_t = torch.from_numpy(cube).float()
    est_t = torch.from_numpy(estimate).float()
    ref_32, est_32 = ref_t.numpy(), est_t.numpy()
    for metric in (mpsnr, mssim, sam, ergas, rmse):
        assert metric(ref_t, est_t) == metric(ref_32, est_32), metric.__name__


def test_bad_inputs_raise_teaching_errors(cube):
    with pytest.raises(InputError, match="same shape"):
        mpsnr(cube, cube[:-1])
    with pytest.raises(ParameterError, match="data_range"):
        mssim(cube, cube, data_range=0)
    with pytest.raises(ParameterError, match="ratio"):
        ergas(cube, cube, ratio=-4)
    with pytest.raises(InputError, match="7 x 7"):
        mssim(cube[:5], cube[:5])
    holed = cube.copy()
    holed[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        sam(holed, cube)


# --- UIQI, SCC, Q2n ---------------------------------------------------------------------
from hsi.metrics import q2n, scc, uiqi  # noqa: E402
from hsi.metrics.quality import _hypercomplex_bilinear  # noqa: E402


def _uiqi_loop(x, y, block, stride):
    """Per-window Wang-Bovik Q with explicit loops (test oracle)."""
    values = []
    for b in range(x.shape[2]):
        for r in range(0, x.shape[0] - block + 1, stride):
            for c in range(0, x.shape[1] - block + 1, stride):
                u, v = x[r : r + block, c : c + block, b].ravel(), y[r : r + block, c : c + block, b].ravel()
                cov = np.cov(u, v)
                means = u.mean(), v.mean()
                luminance = means[0] ** 2 + means[1] ** 2
                values.append(4 * cov[0, 1] * means[0] * means[1] / ((cov[0, 0] + cov[1, 1]) * luminance))
    return np.mean(values)


def test_uiqi_hand_value_and_loop_oracle(cube, rng):
    # y = 2x: correlation 1, luminance 2*2/(1+4), contrast 2*2/(1+4) -> 0.64
    assert uiqi(cube, 2 * cube, block_size=8) == pytest.approx(0.64)
    assert uiqi(cube, cube) == pytest.approx(1.0)
    noisy = cube[:20, :18, :2] + rng.normal(0, 0.05, size=(20, 18, 2))
    for block, stride in ((8, 1), (5, 3)):
        expected = _uiqi_loop(cube[:20, :18, :2], noisy, block, stride)
        assert uiqi(cube[:20, :18, :2], noisy, block, stride) == pytest.approx(expected, rel=1e-10)


def test_scc_laplacian_and_sobel_against_scipy(cube, rng):
    ndimage = pytest.importorskip("scipy.ndimage")
    noisy = cube + rng.normal(0, 0.02, size=cube.shape)
    laplacian = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=float)
    expected = np.mean([
        np.corrcoef(
            ndimage.correlate(cube[..., b], laplacian)[1:-1, 1:-1].ravel(),
            ndimage.correlate(noisy[..., b], laplacian)[1:-1, 1:-1].ravel(),
        )[0, 1]
        for b in range(cube.shape[2])
    ])
    assert scc(cube, noisy) == pytest.approx(expected, rel=1e-10)

    def sobel_magnitude(image):
        inner = image[1:-1, 1:-1]
        return np.hypot(ndimage.sobel(inner, axis=0, mode="constant"), ndimage.sobel(inner, axis=1, mode="constant"))

    grad_ref = np.stack([sobel_magnitude(cube[..., b]) for b in range(6)], -1)
    grad_est = np.stack([sobel_magnitude(noisy[..., b]) for b in range(6)], -1)
    expected = (grad_ref * grad_est).sum() / np.sqrt((grad_ref**2).sum() * (grad_est**2).sum())
    assert scc(cube, noisy, high_pass="sobel") == pytest.approx(expected, rel=1e-10)
    # details are invariant to gain and offset
    assert scc(cube, 3 * cube + 0.5) == pytest.approx(1.0)
    assert scc(cube, -cube) == pytest.approx(-1.0)


def _conj(v):
    return np.concatenate([v[..., :1], -v[..., 1:]], axis=-1)


def _onion_product(p, q):
    """Hypercomplex product of Garzelli & Nencini's reference code, written recursively (oracle)."""
    n = p.shape[-1]
    if n == 1:
        return p * q
    h = n // 2
    a, b, c, d = p[..., :h], _conj(p[..., h:]), q[..., :h], _conj(q[..., h:])
    if n == 2:
        return np.concatenate([a * c - d * b, a * d + c * b], axis=-1)
    first = _onion_product(a, c) - _onion_product(d, _conj(b))
    second = _onion_product(_conj(a), d) + _onion_product(c, b)
    return np.concatenate([first, second], axis=-1)


def _q2n_loop(x, y, block, shift):
    """Block-by-block Q2n following the reference code step by step (oracle)."""
    rows, cols, n_bands = x.shape
    steps = (int(np.ceil(rows / shift)), int(np.ceil(cols / shift)))
    pad = ((0, (steps[0] - 1) * shift + block - rows), (0, (steps[1] - 1) * shift + block - cols), (0, 0))
    x, y = np.pad(x, pad, mode="symmetric"), np.pad(y, pad, mode="symmetric")
    n = 1 << (n_bands - 1).bit_length()
    x = np.concatenate([x, np.zeros(x.shape[:2] + (n - n_bands,))], -1)
    y = np.concatenate([y, np.zeros(y.shape[:2] + (n - n_bands,))], -1)
    k = block * block / (block * block - 1)
    values = []
    for j in range(steps[0]):
        for i in range(steps[1]):
            bx = x[j * shift : j * shift + block, i * shift : i * shift + block].reshape(-1, n)
            by = y[j * shift : j * shift + block, i * shift : i * shift + block].reshape(-1, n)
            mean, std = bx.mean(0), bx.std(0, ddof=1)
            std[std == 0] = np.finfo(float).eps
            zx = (bx - mean) / std + 1
            zy = _conj(np.where(mean == 0, by + 1, (by - mean) / std + 1))
            m1, m2 = zx.mean(0), zy.mean(0)
            total_var = k * ((zx**2).sum(1).mean() + (zy**2).sum(1).mean() - m1 @ m1 - m2 @ m2)
            mean_bias = 2 * np.linalg.norm(m1) * np.linalg.norm(m2) / (m1 @ m1 + m2 @ m2)
            if total_var == 0:
                values.append(mean_bias)
                continue
            q = (k * _onion_product(zx, zy).mean(0) - k * _onion_product(m1, m2)) * mean_bias * 2 / total_var
            values.append(np.linalg.norm(q))
    return np.mean(values)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_hypercomplex_table_reproduces_recursive_product(n, rng):
    p, q = rng.normal(size=(7, n)), rng.normal(size=(7, n))
    moments = torch.from_numpy(p[:, :, None] * q[:, None, :])
    np.testing.assert_allclose(_hypercomplex_bilinear(moments).numpy(), _onion_product(p, q), atol=1e-12)


def test_q2n_matches_block_loop_oracle(cube, rng):
    x = cube[:40, :37, :5]  # 5 bands -> padded to 8; 40 x 37 -> mirrored to 48 x 48
    y = x * rng.uniform(0.9, 1.1, size=5) + rng.normal(0, 0.03, size=x.shape)
    for block, shift in ((16, 16), (16, 8)):
        assert q2n(x, y, block, shift) == pytest.approx(_q2n_loop(x, y, block, shift), rel=1e-10)


def test_q2n_is_one_for_identical_and_drops_with_distortion(cube, rng):
    assert q2n(cube, cube, 16, 16) == pytest.approx(1.0, abs=1e-12)
    assert q2n(cube[..., :3], cube[..., :3], 16, 16) == pytest.approx(1.0, abs=1e-12)
    scores = [q2n(cube, cube + rng.normal(0, s, size=cube.shape), 16, 16) for s in (0.01, 0.05, 0.2)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


def test_q2n_of_one_band_is_uiqi_on_blocks_when_block_means_agree(rng):
    reference = rng.uniform(0.2, 1.0, size=(64, 64, 1))
    noise = rng.normal(0, 0.1, size=reference.shape)
    blocks = noise.reshape(2, 32, 2, 32)
    noise = (blocks - blocks.mean(axis=(1, 3), keepdims=True)).reshape(64, 64, 1)
    estimate = reference + noise  # same block means: the normalised mean term is 1 in both indices
    assert q2n(reference, estimate, 32, 32) == pytest.approx(uiqi(reference, estimate, 32, 32), rel=1e-10)


def test_numpy_and_torch_agree_for_block_metrics(cube, rng):
    estimate = cube + rng.normal(0, 0.03, size=cube.shape)
    as_torch = torch.from_numpy(cube), torch.from_numpy(estimate)
    assert q2n(*as_torch, 16, 16) == q2n(cube, estimate, 16, 16)
    assert uiqi(*as_torch) == uiqi(cube, estimate)
    assert scc(*as_torch) == scc(cube, estimate)


def test_block_metric_parameter_errors(cube):
    with pytest.raises(ParameterError, match="block_size"):
        q2n(cube, cube, block_size=0)
    with pytest.raises(ParameterError, match="high_pass"):
        scc(cube, cube, high_pass="gauss")
    with pytest.raises(InputError, match="block_size=32"):
        uiqi(cube[:20], cube[:20], block_size=32)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_give_the_cpu_values(cube, rng):
    estimate = cube + rng.normal(0, 0.03, size=cube.shape)
    on_gpu = torch.from_numpy(cube).cuda(), torch.from_numpy(estimate).cuda()
    for metric in (mpsnr, mssim, sam, ergas, rmse, uiqi, scc):
        assert metric(*on_gpu) == pytest.approx(metric(cube, estimate), rel=1e-9), metric.__name__
    assert q2n(*on_gpu, 16, 16) == pytest.approx(q2n(cube, estimate, 16, 16), rel=1e-9)
