"""The robust low-rank fit behind robust_fasthyde keeps going where a weighted system is singular."""

from __future__ import annotations

import numpy as np
import torch

from hsi.restore.classical.lowrank import robust_factorize


def test_a_system_singular_in_floating_point_takes_the_minimum_norm_solution():
    """Loadings of 1e7 with two equal columns: the 1e-6 ridge vanishes beside Gram entries of ~1e14 and
    LU failed ('linalg.solve: singular', a traceback from restore on an observation-geometry cube)."""
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(12)
    basis = torch.tensor(np.stack([direction, direction], axis=1) * 1e7)
    scores = rng.standard_normal((200, 1))
    pixels = torch.tensor(scores * direction[None, :] * 1e7 + 0.01 * rng.standard_normal((200, 12)))
    fit = robust_factorize(pixels, basis, n_iter=10)
    assert torch.isfinite(fit).all()
    # the rank-one data are still fitted (the fit converges from the degenerate start)
    assert float(torch.linalg.norm(fit - pixels) / torch.linalg.norm(pixels)) < 0.01


def test_well_posed_systems_are_solved_as_before():
    rng = np.random.default_rng(1)
    basis = torch.tensor(np.linalg.qr(rng.standard_normal((12, 3)))[0])
    pixels = torch.tensor(rng.standard_normal((100, 3)) @ basis.numpy().T + 0.01 * rng.standard_normal((100, 12)))
    fit = robust_factorize(pixels, basis, n_iter=2)
    assert torch.isfinite(fit).all() and float((fit - pixels).abs().max()) < 0.1
