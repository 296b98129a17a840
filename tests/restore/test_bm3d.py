"""The BM3D-type denoiser: exact reconstruction, denoising gain, shared groups, matching."""

import numpy as np
import pytest
import torch

from hsi.restore.classical.bm3d import _filter_groups, _positions, block_match, bm3d


def _images(rng, n=3, size=48):
    """Smooth, correlated test images (the same scene at different contrasts, like eigen-images)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.sin(6 * yy) * np.cos(4 * xx) + (xx > 0.5) + 0.5 * (yy + xx > 1.2)
    return torch.from_numpy(np.stack([base * (3 - i) for i in range(n)]).astype(np.float32))


def test_keeping_every_coefficient_reconstructs_the_image_exactly(rng):
    # Aggregation is done per patch position in the DCT domain and folded once: with a
    # threshold below every coefficient each group is returned unchanged, so the weighted
    # average of the overlapping patches must be the image itself.
    images = torch.from_numpy(rng.normal(size=(2, 29, 34)).astype(np.float32))
    ref_y, ref_x = _positions(29, 8, 3, images.device), _positions(34, 8, 3, images.device)
    matches = block_match(images, ref_y, ref_x, 8, 5, 8)
    window = torch.ones(8, 8)
    out = _filter_groups(images, torch.ones(2), matches, 8, None, 1e-12, window)
    assert torch.max(torch.abs(out - images)) < 1e-5


def test_block_match_finds_the_reference_first_and_exact_copies_next():
    # A periodic image: the patch one period away is an exact copy, so it ranks right after the reference.
    period = 7
    row = torch.arange(40, dtype=torch.float32) % period
    images = (row[None, :] + 10 * (torch.arange(40, dtype=torch.float32)[:, None] % period))[None]
    ref_y, ref_x = torch.tensor([14]), torch.tensor([14])
    matches = block_match(images, ref_y, ref_x, 8, 8, 4)
    width = 40 - 8 + 1
    found = {(int(i) // width, int(i) % width) for i in matches[0, 0]}
    assert int(matches[0, 0, 0]) == 14 * width + 14
    assert found <= {(14 + dy, 14 + dx) for dy in (-7, 0, 7) for dx in (-7, 0, 7)}


@pytest.mark.parametrize("shared", [False, True])
def test_bm3d_gains_on_correlated_images(rng, shared):
    clean = _images(rng)
    noisy = clean + torch.from_numpy(rng.normal(scale=0.5, size=clean.shape).astype(np.float32))
    out = bm3d(noisy, 0.5, shared_groups=shared)
    error_in = ((noisy - clean) ** 2).mean(dim=(1, 2))
    error_out = ((out - clean) ** 2).mean(dim=(1, 2))
    assert torch.all(10 * torch.log10(error_in / error_out) > 6.0)


def test_shared_groups_cost_no_quality_on_images_that_share_structure(rng):
    clean = _images(rng)
    noisy = clean + torch.from_numpy(rng.normal(scale=0.5, size=clean.shape).astype(np.float32))
    own = ((bm3d(noisy, 0.5) - clean) ** 2).mean()
    shared = ((bm3d(noisy, 0.5, shared_groups=True) - clean) ** 2).mean()
    assert shared <= own * 1.05


@pytest.mark.parametrize("joint", [False, True])
def test_block_match_returns_the_nearest_patches_of_each_window_across_tiles_and_edges(rng, joint):
    # Several 8 x 8 tiles of references, windows cut by every edge: the distances of the
    # returned patches must be the `group` smallest of a brute-force search of each window.
    images = torch.from_numpy(rng.normal(size=(2, 41, 37)).astype(np.float32))
    patch, radius, group = 5, 4, 8
    ref_y, ref_x = _positions(41, patch, 2, images.device), _positions(37, patch, 2, images.device)
    assert ref_y.numel() > 8 and ref_x.numel() > 8
    matches = block_match(images, ref_y, ref_x, patch, radius, group, joint=joint)
    height, width = 41 - patch + 1, 37 - patch + 1
    patches = torch.nn.functional.unfold(images.double()[None] if joint else images.double()[:, None], patch)
    distances = torch.cdist(patches.transpose(1, 2), patches.transpose(1, 2)) ** 2  # (b, n_patches, n_patches)
    yy, xx = torch.arange(height).repeat_interleave(width), torch.arange(width).repeat(height)
    refs = (ref_y[:, None] * width + ref_x[None, :]).reshape(-1)
    in_window = ((yy[refs][:, None] - yy[None]).abs() <= radius) & ((xx[refs][:, None] - xx[None]).abs() <= radius)
    expected = distances[:, refs].masked_fill(~in_window, float("inf")).sort(dim=-1).values[..., :group]
    got = distances[:, refs].gather(2, matches).sort(dim=-1).values
    assert torch.equal(matches[:, :, 0], refs.expand(matches.shape[0], -1))
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_small_search_windows_give_groups_no_larger_than_a_corner_window(radius):
    """A corner reference has (radius + 1)^2 candidates: groups are capped there, not at the centre's count."""
    images = torch.randn(2, 40, 50, generator=torch.Generator().manual_seed(0))
    denoised = bm3d(images, 1.0, radius=radius)
    assert denoised.shape == images.shape
    assert float(denoised.std()) < 0.7 * float(images.std())


def _reference_filter(images, sigma, matches, patch, pilot, threshold, window):
    """The group filter written out group by group: 3-D transform, shrinkage, inverse, weighted overlap-add."""
    from hsi.restore.classical.bm3d import _dct_matrix, _haar_matrix

    b, rows, cols = images.shape
    width = cols - patch + 1
    group = matches.shape[-1]
    dct, haar = _dct_matrix(patch, images.dtype, "cpu"), _haar_matrix(group, images.dtype, "cpu")
    numerator, denominator = torch.zeros_like(images), torch.zeros_like(images)
    for i in range(b):
        for members in matches[min(i, matches.shape[0] - 1)]:
            corners = [(int(m) // width, int(m) % width) for m in members]

            def transform(image):
                patches = torch.stack([image[y : y + patch, x : x + patch] for y, x in corners])
                return torch.einsum("gh,hkl->gkl", haar, dct @ patches @ dct.T)  # 2-D DCT, then Haar across

            coefs = transform(images[i])
            if pilot is None:
                keep = coefs.abs() > threshold * sigma[i]
                coefs, weight = coefs * keep, 1.0 / max(int(keep.sum()), 1)
            else:
                energy = transform(pilot[i]) ** 2
                shrink = energy / (energy + sigma[i] ** 2)
                coefs, weight = coefs * shrink, 1.0 / max(float((shrink**2).sum()), 1e-8)
            estimates = dct.T @ torch.einsum("hg,hkl->gkl", haar, coefs) @ dct
            for (y, x), estimate in zip(corners, estimates):
                numerator[i, y : y + patch, x : x + patch] += weight * window * estimate
                denominator[i, y : y + patch, x : x + patch] += weight * window
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-300), images)


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("step", ["hard", "wiener"])
def test_group_filter_equals_a_group_by_group_reference(rng, joint, step):
    # The vectorised filter (gathers of precomputed spectra, butterfly Haar, aggregation in the
    # DCT domain, separable transforms) must give what the textbook loop gives, to float64 rounding.
    images = torch.from_numpy(rng.normal(size=(2, 19, 23)))
    pilot = None if step == "hard" else images + torch.from_numpy(rng.normal(scale=0.3, size=images.shape))
    patch, group = 4, 8
    ref_y, ref_x = _positions(19, patch, 3, images.device), _positions(23, patch, 3, images.device)
    matches = block_match(images, ref_y, ref_x, patch, 3, group, joint=joint)
    kaiser = torch.kaiser_window(patch, periodic=False, beta=2.0, dtype=torch.float64)
    window = kaiser[:, None] * kaiser[None, :]
    sigma = torch.tensor([0.7, 1.3], dtype=torch.float64)
    got = _filter_groups(images, sigma, matches, patch, pilot, 1.5, window)
    expected = _reference_filter(images, sigma, matches, patch, pilot, 1.5, window)
    assert torch.max(torch.abs(got - expected)) < 1e-10
    assert torch.max(torch.abs(got - images)) > 0.1  # the filter did something


@pytest.mark.parametrize("group", [1, 2, 4, 32])
def test_butterfly_haar_is_the_haar_matrix_and_its_inverse(rng, group):
    from hsi.restore.classical.bm3d import _SQRT_HALF, _haar_forward, _haar_inverse, _haar_matrix

    columns = torch.from_numpy(rng.normal(size=(group, 7)))
    half = _haar_matrix(max(group // 2, 1), torch.float64, "cpu") * _SQRT_HALF
    coefs = _haar_forward(columns.clone(), half)
    assert torch.allclose(coefs, _haar_matrix(group, torch.float64, "cpu") @ columns, atol=1e-12)
    assert torch.allclose(_haar_inverse(coefs.clone(), half), columns, atol=1e-12)
