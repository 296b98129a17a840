"""Archetypal analysis by entropic (mirror) descent: EDAA and hsi's default blind unmixing.

Model: ``Y ≈ (Y B) A`` with the endmembers ``E = Y B`` convex combinations of pixels
(``B`` column-stochastic, n_pixels x k) and abundances ``A`` on the simplex (k x n_pixels).
Both factors are updated by entropic mirror descent, ``X <- softmax(log X - eta * grad)``
column-wise, which keeps them on the simplex without projections. Several restarts run
as one batched computation; one is selected without ground truth (reconstruction error,
then least-correlated endmembers), and its abundances are finally refined by exact FCLS.

Two entry points: :func:`edaa` (the paper's random near-uniform initialisation and
random step factors) and :func:`edaa_pp`, hsi's default blind method, which learns from
pp-SPA pseudo-points (pixels averaged with their neighbours in spectral shape) and seeds
each restart with the pixel neighbourhoods chosen by pp-SPA at a different neighbourhood
size, so the descent starts near the vertices of the data simplex instead of its centre
(the uniform start tends to collapse two archetypes onto one material on hard scenes);
optionally EDAA's random ensemble runs beside those seeds (the seeds alone can settle in a
poorer local optimum), keeping one restart of either kind by EDAA's rule.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from hsi.arrays import Array, as_tensor, like_input, torch_generator
from hsi.errors import ParameterError
from hsi.unmix.abundance import fcls, fcls_stack
from hsi.unmix.checks import check_n_endmembers, check_pixels
from hsi.unmix.extract import pp_spa_multiscale, pseudo_points

__all__ = ["edaa", "edaa_pp", "archetypal_restarts", "furthest_sum"]


def _signal_subspace(data: torch.Tensor, dim: int) -> torch.Tensor:
    """Coordinates (dim, n_pixels) of the pixels in the span of their ``dim`` leading singular vectors."""
    _, vectors = torch.linalg.eigh(data.T @ data)
    basis = vectors[:, -dim:]
    return basis.T @ data.T


def _softmax_step(values: torch.Tensor, step: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Entropic mirror-descent step on column-stochastic matrices (simplex along dim -2)."""
    logits = torch.log(values.clamp_min(1e-300)) - step * gradient
    # softmax along a contiguous last axis (the transposed view) is twice as fast as along dim -2
    return torch.softmax(logits.transpose(-1, -2), dim=-1).transpose(-1, -2)


def _log_softmax_and_softmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log_softmax`` and ``softmax`` along the last axis with one ``exp`` pass; ``logits`` is overwritten.

    The mirror step needs both ``log B`` (the next step is additive in it) and ``B`` (for the
    gradient); ``exp(log_softmax(x))`` computes the exponentials twice (once inside the
    log-sum-exp), on an (R, k, n) array that dominates the step's cost at large k.
    """
    logits.sub_(logits.amax(dim=-1, keepdim=True))  # largest logit 0: no overflow in exp
    weights = torch.exp(logits)
    sums = weights.sum(dim=-1, keepdim=True)
    weights.div_(sums)
    return logits.sub_(sums.log_()), weights


def archetypal_restarts(
    coords: torch.Tensor,
    n_endmembers: int,
    generator: torch.Generator,
    *,
    n_restarts: int,
    n_outer: int,
    n_inner_abundances: int,
    n_inner_weights: int,
    step_factors: torch.Tensor,
    init_weights: torch.Tensor | None = None,
    exact_abundances: bool = False,
    abandon_window: int | None = None,
    abandoned: dict | None = None,
):
    """Run ``n_restarts`` entropic-descent archetypal analyses at once.

    Parameters
    ----------
    coords : (d, n_pixels) data (full bands or signal-subspace coordinates).
    n_endmembers : k.
    generator : randomness for the initial pixel weights.
    step_factors : (n_restarts,) multipliers of the base step ``1 / sigma_max(Y B)^2``.
    init_weights : optional (n_restarts, n_pixels, k) initial ``B``.
    exact_abundances : replace the ``n_inner_abundances`` entropic steps on ``A`` by the
        exact minimiser (batched FCLS) for the current archetypes: the same objective, block
        coordinate descent with one block solved exactly, which converges in far fewer
        outer iterations.
    abandon_window : None, or every this many outer iterations abandon each restart that
        cannot reach the lowest current objective: its objective, lowered for all the
        remaining iterations by its own decrease over the last window, would still be above
        the lowest. Objectives decrease ever more slowly, so the projection flatters the
        restart; abandoned restarts return their iterate at that point. Only for callers that
        keep the restart of lowest objective (a restart abandoned never has it at the end,
        unless it would have sped up); it saves the laggards' cost.
    abandoned : optional dict filled with ``{restart index: outer iteration abandoned at}``.

    Returns
    -------
    weights : (n_restarts, n_pixels, k) ``B``; abundances : (n_restarts, k, n_pixels) ``A``.
    """
    d, n = coords.shape
    k = n_endmembers
    dtype, device = coords.dtype, coords.device
    if init_weights is None:
        noise = torch.rand(n_restarts, n, k, generator=generator, dtype=dtype, device=device)
        weights = torch.softmax(0.1 * noise, dim=1)
    else:
        weights = init_weights
    # B is held transposed, (R, k, n) contiguous: each archetype's simplex (over pixels) is a
    # contiguous row for the softmax, and Y B, the gradient are plain (R k, .) matrix products.
    weights_t = weights.transpose(1, 2).contiguous()
    # ... and in the log domain, where the mirror step is additive: log B <- log_softmax(log B
    # - eta grad), one fused pass instead of a log of B and a softmax at every step.
    log_weights_t = torch.log(weights_t.clamp_min(1e-300))
    coords_t = coords.T  # (n, d)

    def exact(endmembers: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        # Warm start from the previous abundances: B moves little per outer step, so the
        # active sets barely change and FCLS reaches the same optimum in a few iterations;
        # all restarts share one active-set loop (fcls_stack).
        return fcls_stack(coords_t, endmembers,
                          initial=None if previous is None else previous.transpose(1, 2)).transpose(1, 2)

    if exact_abundances:
        abundances = exact((weights_t @ coords_t).transpose(1, 2))
    else:
        abundances = torch.full((n_restarts, k, n), 1.0 / k, dtype=dtype, device=device)
    factors = step_factors.to(dtype).clone()
    step_ratio = math.sqrt(k / n)
    objective = _objective(coords, weights_t.transpose(1, 2), abundances)
    # The paper's base step: 1 / sigma_max(Y B)^2 at the (near-uniform) initial B.
    base = 1.0 / torch.linalg.matrix_norm(weights_t @ coords_t, ord=2).pow(2)
    if abandon_window is not None and int(abandon_window) < 1:
        raise ParameterError(f"abandon_window must be >= 1 or None; got {abandon_window}")
    # Restarts still running (indices into the batch), and where abandoned ones leave their iterate.
    running = torch.arange(n_restarts, device=device)
    # (copies only when restarts may stop early; otherwise the running arrays are returned)
    final_weights_t, final_abundances = ((weights_t.clone(), abundances.clone()) if abandon_window is not None
                                         else (weights_t, abundances))
    window_start = objective.clone()
    for iteration in range(1, n_outer + 1):
        step_a = (factors * base).reshape(-1, 1, 1)
        step_b = step_a * step_ratio
        new_abundances = abundances
        if not exact_abundances:
            endmembers_t = weights_t @ coords_t  # (R, k, d) = (Y B)^T
            gram = endmembers_t @ endmembers_t.transpose(1, 2)  # (R, k, k)
            correlation = endmembers_t @ coords  # (R, k, n)
            for _ in range(n_inner_abundances):
                new_abundances = _softmax_step(new_abundances, step_a, gram @ new_abundances - correlation)
        target_t = new_abundances @ coords_t  # (R, k, d) = (Y A^T)^T
        mix = new_abundances @ new_abundances.transpose(1, 2)  # (R, k, k), symmetric
        new_weights_t, new_log_weights_t = weights_t, log_weights_t
        for _ in range(n_inner_weights):
            # Gradient of 0.5 ||Y - Y B A||^2 in B, transposed: (A A^T (Y B)^T - A Y^T) Y, (R, k, n).
            # The step is applied to the small (R, k, d) factor and the product accumulated
            # onto log B in one GEMM: no (R, k, n) gradient array is formed.
            scaled_t = step_b * (mix @ (new_weights_t @ coords_t) - target_t)
            logits = torch.addmm(new_log_weights_t.reshape(-1, n), scaled_t.reshape(-1, d), coords, alpha=-1.0)
            new_log_weights_t, new_weights_t = _log_softmax_and_softmax(logits.reshape(-1, k, n))
        new_endmembers = (new_weights_t @ coords_t).transpose(1, 2)  # (R, d, k) = Y B
        if exact_abundances:
            new_abundances = exact(new_endmembers, abundances)
        # Safeguard: a restart whose objective went up keeps its previous iterate and
        # halves its steps, so every restart decreases monotonically.
        new_objective = _fit_objective(coords, new_endmembers, new_abundances)
        accept = new_objective <= objective * (1 + 1e-12)
        if bool(accept.all()):
            # the usual case: no (R, k, n) selection passes
            weights_t, log_weights_t, abundances = new_weights_t, new_log_weights_t, new_abundances
        else:
            mask = accept.reshape(-1, 1, 1)
            weights_t = torch.where(mask, new_weights_t, weights_t)
            log_weights_t = torch.where(mask, new_log_weights_t, log_weights_t)
            abundances = torch.where(mask, new_abundances, abundances)
        objective = torch.where(accept, new_objective, objective)
        factors = torch.where(accept, factors, 0.5 * factors)
        if abandon_window is not None and iteration % int(abandon_window) == 0 and iteration < n_outer:
            remaining_windows = (n_outer - iteration) / int(abandon_window)
            projected = objective - remaining_windows * (window_start - objective)
            keep = (projected <= objective.min()) | (objective == objective.min())  # the lowest always runs on
            window_start = objective.clone()
            if not bool(keep.all()):
                dropped = ~keep
                final_weights_t[running[dropped]] = weights_t[dropped]
                final_abundances[running[dropped]] = abundances[dropped]
                if abandoned is not None:
                    abandoned.update({int(index): iteration for index in running[dropped]})
                running = running[keep]
                weights_t, log_weights_t, abundances = weights_t[keep], log_weights_t[keep], abundances[keep]
                objective, factors, window_start, base = objective[keep], factors[keep], window_start[keep], base[keep]
    if abandon_window is None:
        return weights_t.transpose(1, 2), abundances
    final_weights_t[running] = weights_t
    final_abundances[running] = abundances
    return final_weights_t.transpose(1, 2), final_abundances


def furthest_sum(coords: torch.Tensor, n_endmembers: int, start: int) -> torch.Tensor:
    """FurthestSum initialisation: k pixels, each maximising the summed distance to those chosen.

    The random starting pixel is dropped once k others are chosen (Mørup & Hansen 2012).

    Parameters
    ----------
    coords : (d, n_pixels) data. start : index of the first pixel.

    Returns
    -------
    indices : (k,) int64.
    """
    points = coords.T
    chosen = [int(start)]
    summed = torch.zeros(points.shape[0], dtype=points.dtype, device=points.device)
    for step in range(n_endmembers + 1):
        summed = summed + (points - points[chosen[-1]]).norm(dim=1)
        if step == n_endmembers:
            break
        candidates = summed.clone()
        candidates[chosen] = -torch.inf
        chosen.append(int(torch.argmax(candidates)))
    return torch.tensor(chosen[1:], dtype=torch.int64, device=points.device)


def _objective(coords: torch.Tensor, weights: torch.Tensor, abundances: torch.Tensor) -> torch.Tensor:
    """``0.5 ||Y - Y B A||_F^2`` per restart, (R,)."""
    return _fit_objective(coords, coords @ weights, abundances)


def _fit_objective(coords: torch.Tensor, endmembers: torch.Tensor, abundances: torch.Tensor) -> torch.Tensor:
    """``0.5 ||Y - E A||_F^2`` per restart, (R,), for endmembers ``E = Y B`` (R, d, k) already formed."""
    residual = torch.baddbmm(coords.expand(endmembers.shape[0], -1, -1), endmembers, abundances, alpha=-1.0)
    return 0.5 * torch.linalg.vector_norm(residual, dim=(1, 2)).pow(2)


def _max_correlation(endmembers: torch.Tensor) -> torch.Tensor:
    """Largest off-diagonal Pearson correlation between the endmembers of each restart, (R,)."""
    centred = endmembers - endmembers.mean(dim=1, keepdim=True)
    centred = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-300)
    corr = centred.transpose(1, 2) @ centred
    k = corr.shape[-1]
    corr = corr - 2.0 * torch.eye(k, dtype=corr.dtype, device=corr.device)
    return corr.flatten(1).max(dim=1).values


def _select(learn: torch.Tensor, weights: torch.Tensor, abundances: torch.Tensor | None, fit_tolerance: float) -> int:
    """Index of the restart kept: least correlated endmembers among the near-best l1 fits.

    ``abundances=None`` scores every restart with its exact (FCLS) abundances, so restarts
    run with different abundance updates (exact or entropic steps) compete on equal terms.
    """
    endmembers_all = learn.T @ weights  # (R, bands, k)
    if abundances is None:
        abundances = torch.stack([fcls(learn, endmembers).T for endmembers in endmembers_all])
    fit_l1 = (learn.T - endmembers_all @ abundances).abs().sum(dim=(1, 2))
    near_best = fit_l1 <= fit_l1.min() / (1.0 - fit_tolerance)
    correlation = torch.where(near_best, _max_correlation(endmembers_all), torch.full_like(fit_l1, torch.inf))
    return int(torch.argmin(correlation))


def _check_common(pixels, n_endmembers, n_restarts, n_outer, fit_tolerance):
    data_in = as_tensor(pixels)
    check_pixels(data_in)
    k = check_n_endmembers(n_endmembers, data_in.shape[0], data_in.shape[1])
    for name, value in (("n_restarts", n_restarts), ("n_outer", n_outer)):
        if int(value) < 1:
            raise ParameterError(f"{name} must be >= 1; got {value}")
    if not 0.0 <= fit_tolerance < 1.0:
        raise ParameterError(f"fit_tolerance must be in [0, 1); got {fit_tolerance}")
    return data_in, k


def _learning_set(data: torch.Tensor, max_pixels: int | None, generator: torch.Generator) -> torch.Tensor:
    if max_pixels is not None and data.shape[0] > max_pixels:
        keep = torch.randperm(data.shape[0], generator=generator, device=data.device)[:max_pixels]
        return data[keep]
    return data


def _prepare(pixels, n_endmembers, rng, n_restarts, n_outer, fit_tolerance, max_pixels, subspace_dim,
             pseudo_neighbors=1):
    """Checked input and the data both entry points learn from.

    Returns ``data_in`` (the input as a tensor), ``k``, the torch generator, ``data``
    (n_pixels, bands) float64, ``learn`` (the learning subset of ``data``, replaced by its
    pp-SPA pseudo-points unless ``pseudo_neighbors`` is 1) and ``coords`` (d, n_learn):
    ``learn.T`` or its signal-subspace coordinates.
    """
    data_in, k = _check_common(pixels, n_endmembers, n_restarts, n_outer, fit_tolerance)
    generator = torch_generator(rng, data_in.device)
    data = data_in.to(torch.float64)
    learn = _learning_set(data, max_pixels, generator)
    if pseudo_neighbors is None or int(pseudo_neighbors) != 1:
        learn = pseudo_points(learn, k, n_neighbors=pseudo_neighbors)
    coords = learn.T if subspace_dim >= data.shape[1] else _signal_subspace(learn, max(int(subspace_dim), k))
    return data_in, k, generator, data, learn, coords


def _finish(pixels, data_in, data, learn, weights, abundances, fit_tolerance, refine_abundances, best=None):
    if best is None:
        best = _select(learn, weights, abundances, fit_tolerance)
    endmembers = learn.T @ weights[best]
    if refine_abundances or learn is not data or abundances is None:
        abundances_best = fcls(data, endmembers)
    else:
        abundances_best = abundances[best].T
    return (
        like_input(endmembers.to(data_in.dtype), pixels),
        like_input(abundances_best.to(data_in.dtype), pixels),
    )


def edaa(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    n_restarts: int = 16,
    n_outer: int = 100,
    n_inner_abundances: int = 5,
    n_inner_weights: int = 5,
    subspace_dim: int = 16,
    fit_tolerance: float = 0.05,
    refine_abundances: bool = True,
    max_pixels: int | None = 50000,
):
    """Entropic descent archetypal analysis (blind unmixing), batched over restarts.

    Each restart draws near-uniform pixel weights ``B`` and a step-size factor from
    ``2**{-3..3}`` (the ensemble of the paper); all restarts run together, each with a
    monotonicity safeguard (an outer iteration that increases the objective is undone and
    that restart's steps halved). Selection (no ground truth): keep the restarts whose l1
    reconstruction error is within ``fit_tolerance`` of the best, then take the one whose
    endmembers are least correlated.

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : k.
    rng : seed, numpy Generator or torch Generator.
    n_restarts : number of restarts in the ensemble.
    n_outer, n_inner_abundances, n_inner_weights : the paper's T, K1, K2.
    subspace_dim : optimise in the span of the leading ``subspace_dim`` singular vectors
        (noise outside the signal subspace only slows the descent); all bands when
        ``subspace_dim >= bands``. Endmembers are always returned in the full band space.
    fit_tolerance : relative l1-fit window for the selection.
    refine_abundances : replace the selected restart's ``A`` by the exact FCLS abundances
        for its endmembers (the same objective, solved to optimality).
    max_pixels : learn ``B`` on at most this many randomly drawn pixels (None: all).

    Returns
    -------
    endmembers : (bands, k); abundances : (n_pixels, k); same kind as ``pixels``.

    References
    ----------
    A. Zouaoui, G. Muhawenayo, B. Rasti, J. Chanussot and J. Mairal, "Entropic descent
    archetypal analysis for blind hyperspectral unmixing", IEEE TIP 32, 2023.
    A. Cutler and L. Breiman, "Archetypal analysis", Technometrics 36(4), 1994.
    """
    data_in, k, generator, data, learn, coords = _prepare(
        pixels, n_endmembers, rng, n_restarts, n_outer, fit_tolerance, max_pixels, subspace_dim)
    exponents = torch.randint(-3, 4, (n_restarts,), generator=generator, device=data.device)
    weights, abundances = archetypal_restarts(
        coords,
        k,
        generator,
        n_restarts=n_restarts,
        n_outer=n_outer,
        n_inner_abundances=n_inner_abundances,
        n_inner_weights=n_inner_weights,
        step_factors=torch.pow(2.0, exponents.to(torch.float64)),
    )
    return _finish(pixels, data_in, data, learn, weights, abundances, fit_tolerance, refine_abundances)


def edaa_pp(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    neighbourhood_sizes: tuple[int, ...] = (5, 10, 20, 40),
    pseudo_neighbors: int | None = None,
    seed_weight: float = 0.5,
    step_factor: float = 4.0,
    n_uniform_restarts: int = 0,
    n_random_restarts: int = 0,
    selection: str = "edaa",
    n_outer: int = 100,
    n_inner_abundances: int = 5,
    n_inner_weights: int = 5,
    subspace_dim: int = 16,
    fit_tolerance: float = 0.05,
    refine_abundances: bool = True,
    max_pixels: int | None = 20000,
    abandon_window: int | None = None,
    endmember_refinement: Callable[..., tuple] | None = None,
    fit_record: dict | None = None,
):
    """hsi's default blind unmixing: entropic-descent archetypal analysis seeded by pp-SPA.

    0. The learning pixels are replaced by their pp-SPA pseudo-points (each the mean of
       its ``pseudo_neighbors`` nearest pixels in spectral shape,
       :func:`hsi.unmix.extract.pseudo_points`). Archetypes are convex combinations of the
       pixels, so they sit on the boundary of the pixels' hull, often on a few extreme
       pixels, the ones most displaced by noise and by pixel-to-pixel variability
       (illumination, slope, shade: reflectance data fill a cone, not a simplex);
       averaging each pixel with its neighbours in shape first (Jin et al. 2024) shrinks
       that displacement by about ``sqrt(pseudo_neighbors)``. The price is a bias of the
       order of the neighbourhood radius (a vertex's neighbours all lie inside the
       simplex), visible on idealised data with exactly pure pixels and white noise only.
       Archetypes of pseudo-points are still convex combinations of pixels.
    1. For each neighbourhood size m in ``neighbourhood_sizes``, pp-SPA (hyperplane
       projection, m-nearest-neighbour pseudo-points, SPA) picks k pixel neighbourhoods;
       restart m starts from ``B`` = ``1 - seed_weight`` spread over those neighbourhoods
       plus ``seed_weight`` spread uniformly over all pixels (full support, as entropic
       descent needs).
    2. All restarts run archetypal analysis together in the signal subspace: entropic
       mirror-descent steps on ``B`` (EDAA's update, with the monotonicity safeguard) and
       the exact abundance block ``A`` (batched FCLS) after each, instead of EDAA's inner
       entropic steps on ``A``: the same objective, converged in far fewer iterations.
    3. Optionally (``n_random_restarts > 0``, method ``edaa_pp_ensemble``), EDAA's own
       ensemble runs beside them on the same pseudo-points:
       ``n_random_restarts`` restarts from near-uniform ``B`` with random step factors
       ``2**{-3..3}`` and EDAA's entropic steps on ``A``. pp-SPA seeds converge fast to the
       archetypes nearest the pp-SPA vertices, which is a poor local optimum on some
       scenes (two seeds on one material's spread); the random ensemble explores others,
       and the seeds keep the scenes where every random start collapses two archetypes
       (e.g. a rare material). Neither start wins everywhere.
    3b. Optionally (``n_uniform_restarts > 0``, method ``edaa_pp_uniform``, the default),
       restarts from EDAA's near-uniform ``B`` run in the seeds' batch with the same exact
       abundance block and step. On some scenes the seeds stop short of the optimum the
       uniform starts reach (usgs_emit_k5_seg: archetypal objective 51-60 against 48.5 after
       100 iterations); on others (rare materials, Jasper Ridge's road) only the seeds find it.
    4. The restart kept is chosen without ground truth, by EDAA's rule (``selection="edaa"``:
       near-best l1 fit, then least-correlated endmembers; with the random ensemble every
       restart is scored on its exact FCLS abundances so both kinds compete on one
       objective) or, when every restart ran with exact abundances, as the one of lowest
       archetypal objective (``selection="objective"``: they all minimised it).
       Its abundances are the exact FCLS solution for its endmembers.
    5. Optionally (``endmember_refinement``, method ``edaa_pp_refined``), a final step on the
       kept endmembers and their FCLS abundances on all of ``pixels``, e.g.
       :func:`hsi.unmix.blind.pure_clusters.refine_pure_clusters` (an archetype whose material
       has a cluster of pure pixels moves to the cluster's centre).

    Parameters
    ----------
    pixels : (n_pixels, bands) array or tensor.
    n_endmembers : k.
    rng : seed or generator (the learning subset when the scene has more than
        ``max_pixels`` pixels, the random restarts' initial weights and step factors).
    neighbourhood_sizes : one restart per pp-SPA neighbourhood size.
    pseudo_neighbors : pixels averaged per pseudo-point in step 0 (default
        ``ceil(log(n_learn))``, pp-SPA's logarithmic neighbourhood); 1 learns from the
        pixels as they are (EDAA's setting).
    seed_weight : share of each initial archetype spread uniformly, in (0, 1].
    step_factor : multiplier of the base step ``1 / sigma_max(Y B0)^2`` (halved by the
        safeguard whenever a step would raise the objective) for the pp-SPA-seeded restarts.
    n_random_restarts : EDAA's randomly started restarts run beside the seeded ones
        (0, the default: the seeded restarts only; 16 costs about 5x the fit time).
    n_uniform_restarts : restarts from EDAA's near-uniform ``B`` in the seeds' batch, with
        exact abundances and ``step_factor`` (each costs about as much as a seeded one).
    selection : ``"edaa"`` (EDAA's rule) or ``"objective"`` (lowest archetypal objective; not
        with ``n_random_restarts``, whose restarts stop unconverged by design).
    n_outer, n_inner_abundances, n_inner_weights : EDAA's T, K1, K2.
    subspace_dim, fit_tolerance, refine_abundances, max_pixels : as in :func:`edaa`.
    abandon_window : None, or every this many outer iterations stop the restarts that
        cannot catch up with the lowest objective at their current rate
        (:func:`archetypal_restarts`); only with ``selection="objective"``, which keeps the
        lowest. On the benchmark's scenes no abandoned restart was the one kept without
        abandonment, and the fit at 18 endmembers costs about a fifth less (bench_results/unmix_fit18_s11_*).
    endmember_refinement : None, or ``(pixels, endmembers, abundances) -> (endmembers,
        abundances, report)`` applied last (float64 tensors; ``report`` is one dict per endmember).
    fit_record : optional dict filled with how the fit went (the job's report): each
        restart's start and final archetypal objective, the restart kept and the rule, and
        the refinement's report under ``"refinement"``.

    Returns
    -------
    endmembers : (bands, k); abundances : (n_pixels, k); same kind as ``pixels``.

    References
    ----------
    A. Zouaoui et al., "Entropic descent archetypal analysis for blind hyperspectral
    unmixing", IEEE TIP 32, 2023. J. Jin, Z. T. Ke, G. Moryoussef, J. Tang and J. Wang,
    "Improved algorithm and bounds for successive projection", ICLR 2024.
    """
    if not 0.0 < seed_weight <= 1.0:
        raise ParameterError(f"seed_weight must be in (0, 1]; got {seed_weight}")
    for name, value in (("n_uniform_restarts", n_uniform_restarts), ("n_random_restarts", n_random_restarts)):
        if int(value) < 0:
            raise ParameterError(f"{name} must be >= 0; got {value}")
    if pseudo_neighbors is not None and int(pseudo_neighbors) < 1:
        raise ParameterError(f"pseudo_neighbors must be >= 1 (1: learn from the raw pixels) or None; got {pseudo_neighbors}")
    if selection not in ("edaa", "objective"):
        raise ParameterError(f"selection must be 'edaa' or 'objective'; got {selection!r}")
    if abandon_window is not None and selection != "objective":
        raise ParameterError("abandon_window stops restarts that cannot reach the lowest objective; it needs "
                             f"selection='objective' (got {selection!r}), which keeps that restart")
    if selection == "objective" and int(n_random_restarts) > 0:
        raise ParameterError("selection='objective' compares restarts run to convergence with exact abundances; "
                             "it cannot be combined with n_random_restarts > 0")
    data_in, k, generator, data, learn, coords = _prepare(
        pixels, n_endmembers, rng, len(neighbourhood_sizes), n_outer, fit_tolerance, max_pixels, subspace_dim,
        pseudo_neighbors)
    n = learn.shape[0]
    sizes = [int(min(max(size, 1), n)) for size in neighbourhood_sizes]
    seeds = []
    for size, neighbourhoods in zip(sizes, pp_spa_multiscale(learn, k, sizes)):
        weights = torch.full((n, k), seed_weight / n, dtype=torch.float64, device=data.device)
        columns = torch.arange(k, device=data.device)[:, None].expand_as(neighbourhoods)
        weights.index_put_((neighbourhoods.reshape(-1), columns.reshape(-1)), torch.tensor((1.0 - seed_weight) / size, dtype=torch.float64), accumulate=True)
        seeds.append(weights)
    if int(n_uniform_restarts) > 0:
        # EDAA's near-uniform start, run with the seeds' exact abundance block and step.
        noise = torch.rand(int(n_uniform_restarts), n, k, generator=generator, dtype=torch.float64, device=data.device)
        seeds += list(torch.softmax(0.1 * noise, dim=1))
    init = torch.stack(seeds)
    starts = [f"pp-SPA seed, neighbourhood {size}" for size in sizes]
    starts += [f"near-uniform start {i + 1}" for i in range(int(n_uniform_restarts))]
    abandoned: dict[int, int] = {}
    weights, abundances = archetypal_restarts(
        coords,
        k,
        generator,
        n_restarts=init.shape[0],
        n_outer=n_outer,
        n_inner_abundances=n_inner_abundances,
        n_inner_weights=n_inner_weights,
        step_factors=torch.full((init.shape[0],), float(step_factor), dtype=torch.float64),
        init_weights=init,
        exact_abundances=True,
        abandon_window=abandon_window,
        abandoned=abandoned,
    )
    objectives = _objective(coords, weights, abundances)
    if int(n_random_restarts) > 0:
        exponents = torch.randint(-3, 4, (int(n_random_restarts),), generator=generator, device=data.device)
        random_weights, _ = archetypal_restarts(
            coords,
            k,
            generator,
            n_restarts=int(n_random_restarts),
            n_outer=n_outer,
            n_inner_abundances=n_inner_abundances,
            n_inner_weights=n_inner_weights,
            step_factors=torch.pow(2.0, exponents.to(torch.float64)),
        )
        weights = torch.cat([weights, random_weights])
        starts += [f"EDAA random start {i + 1}" for i in range(int(n_random_restarts))]
        abundances = None  # every restart scored on its exact FCLS abundances (see _select)
    if selection == "objective":
        # Every restart minimised the same objective with the same exact abundance block: keep the lowest.
        best = int(torch.argmin(objectives))
    else:
        best = _select(learn, weights, abundances, fit_tolerance)
    if fit_record is not None:
        _record_restarts(fit_record, starts, objectives, best, selection, n_outer, abandoned)
    if endmember_refinement is not None:
        return _refined(pixels, data_in, data, learn.T @ weights[best], endmember_refinement, fit_record)
    return _finish(pixels, data_in, data, learn, weights, abundances, fit_tolerance, refine_abundances, best=best)


def _refined(pixels, data_in, data, endmembers, refinement, fit_record):
    """The kept endmembers after ``refinement`` on all the pixels, with its FCLS abundances."""
    endmembers, abundances, report = refinement(data, endmembers, fcls(data, endmembers))
    if fit_record is not None:
        fit_record["refinement"] = report
    return (
        like_input(endmembers.to(data_in.dtype), pixels),
        like_input(abundances.to(data_in.dtype), pixels),
    )


def _record_restarts(record: dict, starts: list[str], objectives: torch.Tensor, best: int, selection: str,
                     n_outer: int, abandoned: dict[int, int] | None = None) -> None:
    """What the report says of the restarts: each one's start, objective and iterations run, the one kept, and why."""
    values = [float(v) for v in objectives]
    abandoned = abandoned or {}
    record["restarts"] = [{"start": start, "objective": values[i] if i < len(values) else None,
                           "iterations": abandoned.get(i, int(n_outer))}
                          for i, start in enumerate(starts)]
    record["kept"] = {"index": best, "start": starts[best], "objective": values[best] if best < len(values) else None}
    record["selection"] = ("lowest archetypal objective 0.5 ||Y - Y B A||^2" if selection == "objective"
                           else "EDAA's rule: least-correlated endmembers among the near-best l1 fits")
    record["objective_spread"] = max(values) / max(min(values), 1e-300)
    record["outer_iterations"] = int(n_outer)
