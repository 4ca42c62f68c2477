"""The SBP family: design, sufficient statistics, weights of the candidate thresholds and
the completion of every draw, as a :class:`~sbp_bayes.families.base.BuiltModel` that
:func:`sbp_bayes.fit` runs like any other family's.

How the candidate thresholds are weighed (``threshold_weights``):

* ``"cross_validation"`` (default): each candidate's GPD posterior (the posterior of a fit
  with that threshold fixed) and its exact leave-one-out score
  (:mod:`sbp_bayes.threshold_selection`); the draws are those of the threshold-averaged
  posterior. With ``sampler="quadrature"`` (what ``"auto"`` picks) the per-candidate
  posteriors are tabulated on grids and drawn i.i.d., with no model to compile
  (``exact_draws``); a NUTS sampler samples the per-candidate model
  (:func:`sbp_bayes.model.build_candidate_model`) instead.
* ``"posterior"``, or fixed thresholds: NUTS on the collapsed model of
  :mod:`sbp_bayes.model` (GPD shapes and scales; thresholds and bin probabilities
  integrated out).

Either way every draw is then completed exactly (:func:`complete_posterior`): the
threshold of each tail is drawn from its conditional posterior given the draw's GPD
parameters, and the bin probabilities from their conjugate Dirichlet posterior given the
thresholds. The posterior then holds, per draw, the full canonical SBP parameter set under
the names of :class:`~sbp_bayes.SplicedBinnedPareto`: ``bin_probs``, ``lower_tail_prob``,
``upper_tail_prob``, ``lower_xi``, ``lower_sigma``, ``upper_xi``, ``upper_sigma`` (the GPD
scale at the drawn threshold), and ``lower_threshold`` / ``upper_threshold``.

Examples
--------
>>> import numpy as np
>>> from sbp_bayes.families import get_family
>>> x = np.random.default_rng(0).standard_t(4, size=1000)
>>> built = get_family("sbp").build(x, tails="upper")
>>> built.model is None, built.sampler, built.info["threshold_weights"]
(True, 'quadrature', 'cross_validation')
>>> posterior = built.exact_draws(2, 50, np.random.default_rng(1))
>>> posterior["upper_threshold"].shape, sorted(built.groups)
((2, 50), ['threshold_weights'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from sbp_bayes.families.base import BuiltModel
from sbp_bayes.model import (
    DEFAULT_MAX_TAIL_POINTS,
    DEFAULT_MIN_TAIL_POINTS,
    DEFAULT_TAIL_FRACTION,
    Design,
    build_candidate_model,
    build_model_from_statistics,
    candidate_priors,
    dirichlet_concentration,
    make_design,
    model_parts,
    summarise,
    threshold_log_prior,
)
from sbp_bayes.priors import Prior

__all__ = ["THRESHOLD_WEIGHTS", "build_sbp", "complete_posterior", "draw_candidates", "weigh_candidates"]

#: How candidate thresholds are weighed (see :func:`sbp_bayes.fit`).
THRESHOLD_WEIGHTS = ("cross_validation", "posterior")


# ----------------------------------------------------------------------------- completion


def draw_candidates(logprob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One candidate index per draw from per-draw log probabilities (last axis).

    Examples
    --------
    >>> import numpy as np
    >>> logprob = np.array([[-np.inf, 0.0, -np.inf], [0.0, -np.inf, -np.inf]])  # each draw sure of one
    >>> draw_candidates(logprob, np.random.default_rng(0))
    array([1, 0])
    """
    probs = np.exp(logprob - logprob.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probs, axis=-1)
    u = rng.random(logprob.shape[:-1])[..., None] * cumulative[..., -1:]
    return np.minimum((cumulative < u).sum(axis=-1), logprob.shape[-1] - 1)


def complete_posterior(
    posterior: xr.Dataset,
    design: Design,
    stats,
    alpha: np.ndarray,
    rng: np.random.Generator,
    chosen_by_side: dict | None = None,
    count_weight: np.ndarray | None = None,
) -> xr.Dataset:
    """Add thresholds, tail masses, scales at the threshold and bin probabilities.

    Exact conditional draws: candidate | GPD parameters (from the stored per-draw
    probabilities), then bin probabilities | thresholds from the conjugate Dirichlet:
    (tail mass below, body bins, tail mass above) ~ Dirichlet(alpha + counts), and each
    tail mass split over its bins by the prior Dirichlet (the data see only the sum).
    ``count_weight`` (per draw) tempers the counts of a clustered series (``cluster_adjustment``).
    """
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    n_bins = design.n_bins
    counts = stats.counts.astype(float)
    shape = (n_chain, n_draw)
    out = {}

    lower_edge = np.zeros(shape, dtype=int)  # first body bin (0-based)
    upper_edge = np.full(shape, n_bins, dtype=int)  # one past the last body bin
    n_lower = np.zeros(shape)
    n_upper = np.zeros(shape)
    tie_bin = np.full(shape, -1)
    tie_count = np.zeros(shape)

    for side in ("lower", "upper"):
        summary = getattr(stats, side)
        if summary is None:
            continue
        if chosen_by_side is not None and side in chosen_by_side:
            chosen = chosen_by_side[side]  # already drawn with the draw's GPD parameters
        else:
            logprob = posterior[f"{side}_threshold_logprob"].values
            chosen = draw_candidates(logprob, rng)  # index in ascending threshold order
        edges_index = (design.lower_candidates if side == "lower" else design.upper_candidates)[chosen]
        threshold = design.bin_edges[edges_index]
        # Summaries are ordered innermost first; map the ascending choice onto them.
        inner_first = chosen if side == "upper" else (summary.offsets.size - 1 - chosen)
        offset = summary.offsets[inner_first]
        n_beyond = summary.excess.size - summary.start[inner_first]
        xi = posterior[f"{side}_xi"].values
        sigma = posterior[f"{side}_sigma_ref"].values + xi * offset
        out[f"{side}_threshold"] = threshold
        out[f"{side}_sigma"] = sigma
        out[f"{side}_threshold_index"] = chosen
        if side == "lower":
            lower_edge, n_lower = edges_index, n_beyond
        else:
            upper_edge, n_upper = edges_index, n_beyond
            tie_bin = edges_index - 1
            tie_count = summary.at_candidate[inner_first]

    if count_weight is not None:  # clustered exceedances: counts worth fewer independent ones
        counts = counts * count_weight[..., None]
        n_lower, n_upper, tie_count = n_lower * count_weight, n_upper * count_weight, tie_count * count_weight
    bins = np.arange(n_bins)
    in_body = (bins >= lower_edge[..., None]) & (bins < upper_edge[..., None])
    body_counts = counts + np.where(bins == tie_bin[..., None], tie_count[..., None], 0.0)
    body_gamma = rng.gamma(np.where(in_body, alpha + body_counts, 1.0))
    body_gamma = np.where(in_body, body_gamma, 0.0)
    below = bins < lower_edge[..., None]
    above = bins >= upper_edge[..., None]
    alpha_below = np.where(below, alpha, 0.0).sum(axis=-1)
    alpha_above = np.where(above, alpha, 0.0).sum(axis=-1)
    lower_gamma = np.where(alpha_below > 0, rng.gamma(np.maximum(alpha_below + n_lower, 1e-300)), 0.0)
    upper_gamma = np.where(alpha_above > 0, rng.gamma(np.maximum(alpha_above + n_upper, 1e-300)), 0.0)
    total = body_gamma.sum(axis=-1) + lower_gamma + upper_gamma
    # Split each tail mass over its bins by the prior (the data only see the sum).
    split = rng.gamma(np.broadcast_to(alpha, (*shape, n_bins)))
    below_split = np.where(below, split, 0.0)
    above_split = np.where(above, split, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        below_share = np.nan_to_num(below_split / below_split.sum(axis=-1, keepdims=True))
        above_share = np.nan_to_num(above_split / above_split.sum(axis=-1, keepdims=True))
    lower_mass = lower_gamma / total
    upper_mass = upper_gamma / total
    bin_probs = body_gamma / total[..., None] + below_share * lower_mass[..., None]
    bin_probs = bin_probs + above_share * upper_mass[..., None]

    sample = ("chain", "draw")
    extra = {
        "bin_probs": ((*sample, "bin"), bin_probs),
        **({"lower_tail_prob": (sample, lower_mass)} if stats.lower is not None else {}),
        **({"upper_tail_prob": (sample, upper_mass)} if stats.upper is not None else {}),
        **{name: (sample, value) for name, value in out.items()},
    }
    completed = posterior.assign({name: xr.Variable(dims, value) for name, (dims, value) in extra.items()})
    return completed.assign_coords(bin=np.arange(n_bins))


def weigh_candidates(
    posterior: xr.Dataset | None,
    design: Design,
    stats,
    priors: dict,
    alpha: np.ndarray,
    threshold_priors,
    rng: np.random.Generator,
    *,
    chains: int,
    draws: int,
    groups_by_side: dict | None = None,
    cluster_adjustment: str = "sandwich",
):
    """Cross-validation weights of the candidates and the draws of the averaged posterior.

    For each tail, every candidate's exact leave-one-out score
    (:func:`sbp_bayes.threshold_selection.candidate_scores`) gives weights; each draw then
    takes a candidate from the weights and that candidate's (ξ, σ) draw, which is a draw
    of the threshold-averaged posterior ``Σ_j w_j p(ξ, σ | data, u_j)``. Returns the
    posterior with ``*_xi``, ``*_sigma_ref`` and ``*_threshold_logprob`` (the weights, the
    same for every draw), the chosen candidates (ascending index) and the weights table.

    With ``posterior=None`` the per-candidate draws are taken from the quadrature grids
    themselves (``chains x draws`` i.i.d. draws per candidate; the ``"quadrature"`` sampler).
    ``groups_by_side`` (cluster labels of each tail's excesses) makes the likelihood and the
    scores cluster-aware (``cluster_adjustment``); the weights table then holds each
    candidate's likelihood and count weights.
    """
    from sbp_bayes.threshold_selection import candidate_scores

    n_chain, n_draw = chains, draws
    chosen_by_side, new, tables, by_candidate = {}, {}, {}, {}
    for side in ("lower", "upper"):
        summary = getattr(stats, side)
        if summary is None:
            continue
        n_candidates = summary.offsets.size
        # Innermost first, as the tail summary and the candidate model are ordered.
        edges = design.upper_candidates if side == "upper" else design.lower_candidates[::-1]
        beyond_alpha = np.array([alpha[e:].sum() if side == "upper" else alpha[:e].sum() for e in edges])
        log_prior = threshold_log_prior((threshold_priors or {}).get(side), n_candidates, side)
        if side == "lower":
            log_prior = log_prior[::-1]
        sigma_prior = priors[f"{side}_sigma"]
        vector_sigma = any(isinstance(v, list) for v in sigma_prior.parameters.values())
        sigma_log_priors = [
            sigma_prior.log_density_function(j if vector_sigma else None) for j in range(n_candidates)
        ]
        scores, grids = candidate_scores(
            summary.excess,
            summary.offsets,
            summary.start,
            stats.n,
            beyond_alpha,
            alpha.sum() - beyond_alpha,
            priors[f"{side}_xi"].log_density_function(),
            sigma_log_priors,
            log_prior,
            groups=(groups_by_side or {}).get(side),
            adjustment=cluster_adjustment,
        )
        weights = np.exp(scores.log_weight)
        inner_first = rng.choice(n_candidates, size=(n_chain, n_draw), p=weights / weights.sum())
        if posterior is None:
            pairs = [grid.sample((n_chain, n_draw), rng) for grid in grids]
            xi_all = np.stack([xi for xi, _ in pairs], axis=-1)
            sigma_all = np.stack([sigma for _, sigma in pairs], axis=-1)
            by_candidate[side] = (xi_all, sigma_all)
        else:
            xi_all = posterior[f"{side}_xi_by_candidate"].values
            sigma_all = posterior[f"{side}_sigma_by_candidate"].values
        xi = np.take_along_axis(xi_all, inner_first[..., None], axis=-1)[..., 0]
        sigma = np.take_along_axis(sigma_all, inner_first[..., None], axis=-1)[..., 0]
        ascending = (lambda a: a) if side == "upper" else (lambda a: a[..., ::-1])
        chosen_by_side[side] = inner_first if side == "upper" else n_candidates - 1 - inner_first
        thresholds = design.upper_thresholds if side == "upper" else design.lower_thresholds
        logprob = np.broadcast_to(ascending(scores.log_weight), (n_chain, n_draw, n_candidates))
        new[f"{side}_xi"] = (("chain", "draw"), xi)
        # Threshold stability read backwards: the scale this draw implies at the innermost
        # candidate (the quantity the marginalised model samples), σ_u - ξ (u - u_0).
        new[f"{side}_sigma_ref"] = (("chain", "draw"), sigma - xi * summary.offsets[inner_first])
        new[f"{side}_threshold_logprob"] = (("chain", "draw", f"{side}_candidate"), logprob.copy())
        exceedances = summary.excess.size - summary.start
        tables[side] = xr.Dataset(
            {
                f"{side}_weight": (f"{side}_candidate", ascending(np.exp(scores.log_weight))),
                f"{side}_cv_score": (f"{side}_candidate", ascending(scores.score)),
                f"{side}_cv_score_se": (f"{side}_candidate", ascending(scores.score_se)),
                f"{side}_exceedances": (f"{side}_candidate", ascending(exceedances)),
                **(
                    {
                        f"{side}_likelihood_weight": (
                            f"{side}_candidate",
                            ascending(scores.likelihood_weight),
                        ),
                        f"{side}_count_weight": (f"{side}_candidate", ascending(scores.count_weight)),
                    }
                    if scores.likelihood_weight is not None
                    else {}
                ),
            },
            coords={f"{side}_candidate": thresholds},
            attrs={f"{side}_validation_threshold": float(thresholds[-1 if side == "upper" else 0])},
        )
    if posterior is None:
        posterior = xr.Dataset(
            {
                f"{side}_{name}_by_candidate": (("chain", "draw", f"{side}_candidate"), value)
                for side, pair in by_candidate.items()
                for name, value in zip(("xi", "sigma"), pair, strict=True)
            },
            coords={
                "chain": np.arange(n_chain),
                "draw": np.arange(n_draw),
                "lower_candidate": design.lower_thresholds[::-1],
                "upper_candidate": design.upper_thresholds,
            },
        )
    # The per-candidate variables in ascending threshold order, like every other candidate axis.
    if "lower_xi_by_candidate" in posterior:
        posterior = posterior.isel(lower_candidate=slice(None, None, -1))
    unused = [name for name in ("lower_candidate", "upper_candidate") if name not in posterior.dims]
    posterior = posterior.drop_vars([name for name in unused if name in posterior.coords])
    posterior = posterior.assign({name: xr.Variable(dims, value) for name, (dims, value) in new.items()})
    weights_table = xr.merge(list(tables.values()), combine_attrs="drop_conflicts")
    weights_table.attrs.update(
        {
            "kind": "cross_validation",
            "method": "exact leave-one-out log predictive relative to the outermost candidate "
            "(Northrop, Attalides & Jonathan 2017), by quadrature over each candidate's GPD posterior",
        }
    )
    return posterior, chosen_by_side, weights_table


# ----------------------------------------------------------------------------- the family


def build_sbp(
    values: np.ndarray,
    *,
    bins: int | Sequence[float] | None = None,
    tails: str | None = None,
    lower_threshold: float | Sequence[float] | None = None,
    upper_threshold: float | Sequence[float] | None = None,
    n_candidates: int = 10,
    tail_fraction: float = DEFAULT_TAIL_FRACTION,
    max_tail_points: int = DEFAULT_MAX_TAIL_POINTS,
    min_tail_points: int = DEFAULT_MIN_TAIL_POINTS,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    priors: Mapping[str, Prior | Mapping] | None = None,
    threshold_priors: Mapping[str, object] | None = None,
    threshold_weights: str = "cross_validation",
    design: Design | None = None,
    sampler: str = "auto",
    cluster_adjustment: str | None = None,
    **_,
) -> BuiltModel:
    """The SBP of ``values`` as :func:`sbp_bayes.fit` runs it (options as there).

    Makes the design (unless given) and the sufficient statistics, resolves
    ``sampler="auto"`` (quadrature for cross-validation weights over several candidates,
    nutpie otherwise) and returns the model to sample (none for quadrature: its draws are
    ``exact_draws``) with the completion of the draws. Cross-validation weights add the
    ``threshold_weights`` group to ``groups`` when the draws are taken.

    Raises
    ------
    ValueError
        A sampler or ``cluster_adjustment`` that does not apply to the weighing of the
        candidates (e.g. quadrature with fixed thresholds).
    DataError, PriorError
        From the design and the priors (:mod:`sbp_bayes.model`).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_t(4, size=1000)
    >>> built = build_sbp(x, upper_threshold=3.0, tails="upper")  # one candidate: NUTS
    >>> built.sampler, built.info["threshold_weights"], built.exact_draws is None
    ('nutpie', 'fixed', True)
    """
    bins = 30 if bins is None else bins
    tails = "both" if tails is None else tails
    if design is None:
        design = make_design(
            values,
            bins=bins,
            tails=tails,
            lower_threshold=lower_threshold,
            upper_threshold=upper_threshold,
            n_candidates=n_candidates,
            tail_fraction=tail_fraction,
            max_tail_points=max_tail_points,
            min_tail_points=min_tail_points,
            lower_bound=lower_bound,
            upper_bound=upper_bound,
        )
    stats = summarise(values, design)
    several = max(design.lower_candidates.size, design.upper_candidates.size) > 1
    weighing = threshold_weights if several else "fixed"
    if sampler == "auto":
        # Each candidate's posterior is two-dimensional: quadrature is exact and needs no
        # compilation. The marginalised model couples the tails and is sampled by NUTS.
        sampler = "quadrature" if weighing == "cross_validation" else "nutpie"
    if cluster_adjustment is not None and sampler != "quadrature":
        raise ValueError(
            "cluster_adjustment tempers the quadrature posteriors of the default fit: it needs "
            "threshold_weights='cross_validation', more than one candidate threshold and "
            f"sampler='auto' or 'quadrature' (got sampler={sampler!r}, threshold weights {weighing!r})."
        )
    if sampler == "quadrature" and weighing != "cross_validation":
        raise ValueError(
            "sampler='quadrature' draws the per-candidate GPD posteriors of cross-validation "
            "threshold weights; it needs threshold_weights='cross_validation' and more than one "
            "candidate threshold. Use sampler='nutpie' (or 'auto') here."
        )
    groups: dict[str, xr.Dataset] = {}
    model, complete, exact_draws = None, None, None
    if weighing == "cross_validation":
        resolved_priors = candidate_priors(stats, priors)
        if sampler != "quadrature":
            model = build_candidate_model(stats, design, priors)
        alpha = dirichlet_concentration(design, resolved_priors["bin_probs"])
        groups_by_side = None
        if cluster_adjustment is not None:
            from sbp_bayes.clusters import exceedance_groups

            # Clusters at the innermost candidate, whose exceedances every tail point is one of.
            groups_by_side = {
                side: exceedance_groups(values, design_thresholds[0], tail=side)
                for side, design_thresholds in (
                    ("upper", design.upper_thresholds),
                    ("lower", design.lower_thresholds[::-1]),
                )
                if getattr(stats, side) is not None
            }

        def weigh_and_complete(posterior, rng, chains, draws):
            posterior, chosen, weights_table = weigh_candidates(
                posterior,
                design,
                stats,
                resolved_priors,
                alpha,
                threshold_priors,
                rng,
                chains=chains,
                draws=draws,
                groups_by_side=groups_by_side,
                cluster_adjustment=cluster_adjustment or "sandwich",
            )
            count_weight = None
            if cluster_adjustment is not None:
                count_weight = np.ones((chains, draws))
                for side, chosen_side in chosen.items():
                    # chosen is the ascending candidate index, as the weights table's axis.
                    per_candidate = weights_table[f"{side}_count_weight"].values
                    count_weight = np.minimum(count_weight, per_candidate[chosen_side])
                weights_table.attrs["cluster_adjustment"] = cluster_adjustment
            groups["threshold_weights"] = weights_table
            return complete_posterior(posterior, design, stats, alpha, rng, chosen, count_weight)

        if model is None:  # quadrature: i.i.d. draws of each candidate's posterior from its grid

            def exact_draws(chains, draws, rng):
                return weigh_and_complete(None, rng, chains, draws)

        else:  # NUTS draws of each candidate's posterior, then the weights

            def complete(posterior, rng):
                return weigh_and_complete(posterior, rng, posterior.sizes["chain"], posterior.sizes["draw"])

    else:
        model = build_model_from_statistics(stats, design, priors, threshold_priors)
        parts = model_parts(model)
        resolved_priors, alpha = parts.priors, parts.concentration

        def complete(posterior, rng):
            return complete_posterior(posterior, design, stats, alpha, rng)

    info = {
        "priors": {k: v.to_config() for k, v in resolved_priors.items()},
        "threshold_weights": weighing,
    }
    return BuiltModel(
        model,
        info,
        design=design,
        checked=None,  # SBPFit works them out from the sampler and the tails
        complete=complete,
        exact_draws=exact_draws,
        sampler=sampler,
        groups=groups,
        options={"bins": bins},
    )
