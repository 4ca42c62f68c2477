"""The baseline families: model, completion of the draws, predictive distribution; and
:data:`FAMILIES`, every static family (the SBP's build is :mod:`sbp_bayes.families.sbp`).

Each :class:`~sbp_bayes.families.base.Family` turns data and options into a
:class:`~sbp_bayes.families.base.BuiltModel` (a PyMC model for NUTS, or exact conjugate
draws), and turns a finished fit's posterior into a batched numpy predictive distribution.
Priors are documented per family; data-scale priors are centred on robust summaries of the
data (median, interquartile range) and are deliberately wide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import xarray as xr

from sbp_bayes.families.base import BuiltModel, Family
from sbp_bayes.families.predictive import FrozenGPDNormalGPD, FrozenNormal, FrozenStudentT
from sbp_bayes.families.registry import REGISTRY, family_entry, static_family_names
from sbp_bayes.families.sbp import build_sbp
from sbp_bayes.model import (
    MIN_EXCEEDANCES,
    DataError,
    Design,
    gap_between,
    make_design,
    summarise,
    tail_shape,
)
from sbp_bayes.priors import Prior, PriorError
from sbp_bayes.stats import FrozenSplicedBinnedPareto

__all__ = ["FAMILIES", "BuiltModel", "Family", "get_family"]

DEFAULT_TAIL_SHARE = 0.1  # fixed-threshold baselines: 10% of the data in each modelled tail
#: As for the SBP (sbp_bayes.model.default_priors): weakly informative, floored at -1 where
#: the GPD likelihood becomes unbounded at the endpoint.
DEFAULT_XI_PRIOR = Prior("TruncatedNormal", mu=0.0, sigma=0.5, lower=-1.0)
POT_DEFAULT_SHARE = 0.05  # peaks over threshold: the 95% quantile, a common default


def _flat(posterior, name, thin=1):
    values = posterior[name].values
    return values.reshape((-1, *values.shape[2:]))[::thin]


def _robust_scale(values: np.ndarray) -> tuple[float, float]:
    """(median, scale) with the scale from the interquartile range (Normal-consistent)."""
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    scale = (q3 - q1) / 1.349
    if scale <= 0:
        scale = float(np.std(values)) or 1.0
    return float(median), float(scale)


def _resolve_priors(defaults: dict[str, Prior], given: Mapping | None, family: str) -> dict[str, Prior]:
    resolved = dict(defaults)
    for name, value in (given or {}).items():
        if name not in resolved:
            raise PriorError(
                f"Unknown prior {name!r} for family {family!r}; "
                f"it has priors for: {', '.join(sorted(resolved))}."
            )
        resolved[name] = Prior.from_config(value)
    return resolved


def _fixed_threshold(values: np.ndarray, side: str, given, share: float) -> float:
    """A fixed threshold: the given one (checked), or the one leaving ``share`` of the data
    beyond it, placed between two distinct values."""
    x = np.sort(values)
    if given is not None:
        if np.ndim(given) != 0:
            raise DataError(f"This family needs a single fixed {side}_threshold, not {given!r}.")
        threshold = float(given)
        beyond = int((x > threshold).sum()) if side == "upper" else int((x < threshold).sum())
        if not x[0] < threshold < x[-1]:
            raise DataError(
                f"The {side} threshold {threshold!r} lies outside the data range [{x[0]!r}, {x[-1]!r}]."
            )
        if beyond < MIN_EXCEEDANCES:
            raise DataError(
                f"Only {beyond} observation(s) lie beyond the {side} threshold {threshold!r}; a GPD tail "
                f"needs at least {MIN_EXCEEDANCES}. Move the threshold towards the body."
            )
        return threshold
    n_beyond = max(MIN_EXCEEDANCES, round(share * x.size))
    oriented = x if side == "upper" else np.sort(-x)
    value = gap_between(oriented, n_beyond)
    if value is None:
        raise DataError(f"No {side} threshold can be placed: the {n_beyond} most extreme values are tied.")
    return value if side == "upper" else -value


def _gpd_scale_prior(excess: np.ndarray) -> Prior:
    """As for the SBP: LogNormal around the scale of an exponential tail."""
    scale = float(np.median(excess)) / math.log(2.0)
    return Prior("LogNormal", mu=round(math.log(scale), 6), sigma=1.0)


# ----------------------------------------------------------------------------- Normal / t


def _build_normal(values, *, priors=None, **_):
    import pymc as pm

    centre, scale = _robust_scale(values)
    spread = max(float(np.std(values)), scale)
    defaults = {
        "mu": Prior("Normal", mu=centre, sigma=10.0 * spread),
        "sigma": Prior("HalfNormal", sigma=10.0 * spread),
    }
    resolved = _resolve_priors(defaults, priors, "normal")
    with pm.Model() as model:
        data = pm.Data("y", values)
        mu = resolved["mu"].create("mu", parameters_as_data=True)
        sigma = resolved["sigma"].create("sigma", parameters_as_data=True)
        pm.Normal("obs", mu=mu, sigma=sigma, observed=data)
    return BuiltModel(
        model, {"priors": {k: v.to_config() for k, v in resolved.items()}}, checked=["mu", "sigma"]
    )


def _normal_distribution(fit, thin=1):
    post = fit.idata["posterior"]
    return FrozenNormal(_flat(post, "mu", thin), _flat(post, "sigma", thin))


def _build_student_t(values, *, priors=None, **_):
    import pymc as pm

    centre, scale = _robust_scale(values)
    defaults = {
        # Juarez & Steel (2010): Gamma(2, 0.1) on the degrees of freedom.
        "nu": Prior("Gamma", alpha=2.0, beta=0.1),
        "mu": Prior("Normal", mu=centre, sigma=10.0 * scale),
        "sigma": Prior("HalfNormal", sigma=10.0 * scale),
    }
    resolved = _resolve_priors(defaults, priors, "student_t")
    with pm.Model() as model:
        data = pm.Data("y", values)
        nu = resolved["nu"].create("nu", parameters_as_data=True)
        mu = resolved["mu"].create("mu", parameters_as_data=True)
        sigma = resolved["sigma"].create("sigma", parameters_as_data=True)
        pm.StudentT("obs", nu=nu, mu=mu, sigma=sigma, observed=data)
    info = {"priors": {k: v.to_config() for k, v in resolved.items()}}
    return BuiltModel(model, info, checked=["nu", "mu", "sigma"])


def _student_t_distribution(fit, thin=1):
    post = fit.idata["posterior"]
    return FrozenStudentT(_flat(post, "nu", thin), _flat(post, "mu", thin), _flat(post, "sigma", thin))


# ----------------------------------------------------------------------------- GPD-Normal-GPD


def _build_gng(values, *, priors=None, lower_threshold=None, upper_threshold=None, tails="both", **_):
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import normal_lccdf, normal_lcdf

    from sbp_bayes.distributions.gpd import gpd_logpdf

    if tails not in ("both", "upper", "lower"):
        raise ValueError(f"tails must be 'both', 'upper' or 'lower', not {tails!r}.")
    sides = [side for side in ("lower", "upper") if tails in ("both", side)]
    thresholds = {
        side: _fixed_threshold(
            values, side, lower_threshold if side == "lower" else upper_threshold, DEFAULT_TAIL_SHARE
        )
        for side in sides
    }
    u_lower = thresholds.get("lower", -np.inf)
    u_upper = thresholds.get("upper", np.inf)
    if u_lower >= u_upper:
        raise DataError(f"The lower threshold {u_lower!r} must lie below the upper threshold {u_upper!r}.")
    excesses = {
        "lower": np.sort(u_lower - values[values < u_lower]),
        "upper": np.sort(values[values > u_upper] - u_upper),
    }
    bulk = values[(values >= u_lower) & (values <= u_upper)]
    centre, scale = _robust_scale(values)
    defaults = {
        "mu": Prior("Normal", mu=centre, sigma=10.0 * scale),
        "sigma": Prior("HalfNormal", sigma=10.0 * scale),
    }
    for side in sides:
        defaults[f"{side}_xi"] = DEFAULT_XI_PRIOR
        defaults[f"{side}_sigma"] = _gpd_scale_prior(excesses[side])
    resolved = _resolve_priors(defaults, priors, "gpd_normal_gpd")
    with pm.Model() as model:
        mu = resolved["mu"].create("mu", parameters_as_data=True)
        sigma = resolved["sigma"].create("sigma", parameters_as_data=True)
        # The bulk enters through its sufficient statistics (count, sum, sum of squares about
        # the data median, which keeps the squares well conditioned).
        shift = pm.Data("bulk_shift", centre)
        n_bulk = pm.Data("bulk_count", float(bulk.size))
        s1 = pm.Data("bulk_sum", float(np.sum(bulk - centre)))
        s2 = pm.Data("bulk_sum_squares", float(np.sum((bulk - centre) ** 2)))
        offset = mu - shift
        total = -n_bulk * (pt.log(sigma) + 0.5 * math.log(2 * math.pi)) - (
            s2 - 2 * offset * s1 + n_bulk * offset**2
        ) / (2 * sigma**2)
        for side in sides:
            threshold = pm.Data(f"{side}_threshold", thresholds[side])
            excess = pm.Data(f"{side}_excess", excesses[side])
            max_excess = pm.Data(f"{side}_max_excess", float(excesses[side][-1]))
            gpd_sigma = resolved[f"{side}_sigma"].create(f"{side}_sigma", parameters_as_data=True)
            xi = tail_shape(side, resolved[f"{side}_xi"], gpd_sigma, max_excess)
            # The tail mass is the Normal's own mass beyond the threshold (evmix phiul = TRUE).
            if side == "upper":
                log_mass = normal_lccdf(mu, sigma, threshold)
            else:
                log_mass = normal_lcdf(mu, sigma, threshold)
            pm.Deterministic(f"{side}_tail_prob", pt.exp(log_mass))
            total = total + excess.shape[0] * log_mass + pt.sum(gpd_logpdf(excess, xi, gpd_sigma))
        pm.Potential("likelihood", total)
    info = {
        "priors": {k: v.to_config() for k, v in resolved.items()},
        "tails": tails,
        **{f"{side}_threshold": u for side, u in thresholds.items()},
    }

    def complete(posterior, rng):
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        return posterior.assign(
            {f"{side}_threshold": (("chain", "draw"), np.full(shape, u)) for side, u in thresholds.items()}
        )

    checked = ["mu", "sigma", *[f"{side}_{name}" for side in sides for name in ("xi", "sigma")]]
    return BuiltModel(model, info, checked=checked, complete=complete)


def _gng_distribution(fit, thin=1):
    post = fit.idata["posterior"]
    mu = _flat(post, "mu", thin)
    n = mu.size
    params = {}
    for side in ("lower", "upper"):
        if f"{side}_xi" in post:
            params[side] = [_flat(post, f"{side}_{name}", thin) for name in ("threshold", "xi", "sigma")]
        else:  # no GPD on this side: the Normal runs to infinity
            params[side] = [np.full(n, -np.inf if side == "lower" else np.inf), np.zeros(n), np.ones(n)]
    return FrozenGPDNormalGPD(
        mu,
        _flat(post, "sigma", thin),
        params["lower"][0],
        params["upper"][0],
        params["lower"][1],
        params["lower"][2],
        params["upper"][1],
        params["upper"][2],
    )


# ----------------------------------------------------------------------------- binned only


def _build_binned(values, *, bins=50, priors=None, lower_bound=None, upper_bound=None, **_):
    x = np.sort(values)
    if np.ndim(bins) == 0:
        n_bins = int(bins)
        if n_bins < 1:
            raise ValueError(f"bins must be a positive number of bins, not {bins!r}.")
        # One bin width of room either side: a histogram fitted to the sample range gives
        # held-out values just outside it zero density.
        width = (x[-1] - x[0]) / n_bins
        low = x[0] - width if lower_bound is None else float(lower_bound)
        high = x[-1] + width if upper_bound is None else float(upper_bound)
        edges = np.linspace(low, high, n_bins + 1)
    else:
        edges = np.asarray(bins, dtype=float)
    if x[0] < edges[0] or x[-1] > edges[-1]:
        raise DataError(
            f"The bins span [{edges[0]!r}, {edges[-1]!r}] but the data span [{x[0]!r}, {x[-1]!r}]; "
            "a histogram without tails gives values outside its bins zero density."
        )
    design = Design(edges, np.array([], dtype=int), np.array([], dtype=int))
    counts = summarise(values, design).counts
    resolved = _resolve_priors({"bin_probs": Prior("Dirichlet", a=1.0)}, priors, "binned")
    alpha = np.broadcast_to(
        np.asarray(resolved["bin_probs"].parameters.get("a", 1.0), dtype=float), counts.shape
    )

    def exact_draws(n_chain, n_draw, rng):
        # Dirichlet prior x multinomial counts: the posterior is Dirichlet(alpha + counts).
        draws = rng.dirichlet(alpha + counts, size=(n_chain, n_draw))
        return xr.Dataset(
            {"bin_probs": (("chain", "draw", "bin"), draws)},
            coords={"chain": np.arange(n_chain), "draw": np.arange(n_draw), "bin": np.arange(edges.size - 1)},
        )

    info = {"priors": {k: v.to_config() for k, v in resolved.items()}, "bin_edges": edges.tolist()}
    return BuiltModel(None, info, design=design, exact_draws=exact_draws, sampler="exact")


def _binned_distribution(fit, thin=1):
    probs = _flat(fit.idata["posterior"], "bin_probs", thin)
    n = probs.shape[0]
    edges = np.asarray(fit.design.bin_edges)
    return FrozenSplicedBinnedPareto(
        edges,
        probs,
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        np.ones(n),
        np.zeros(n),
        np.ones(n),
        has_lower_tail=False,
        has_upper_tail=False,
        known_lower_threshold=np.full(n, edges[0]),
        known_upper_threshold=np.full(n, edges[-1]),
    )


# ----------------------------------------------------------------------------- peaks over threshold


def _empirical_body_edges(values: np.ndarray, threshold: float, n_bins: int = 50) -> np.ndarray:
    """Equal-count bins of the data below the threshold (the body a POT analysis does not
    model: its predictive reads the empirical distribution there)."""
    below = np.sort(values[values <= threshold])
    quantiles = np.unique(np.quantile(below, np.linspace(0, 1, n_bins + 1)))
    edges = np.concatenate(
        [[below[0]], quantiles[(quantiles > below[0]) & (quantiles < threshold)], [threshold]]
    )
    return np.unique(edges)


def _build_pot(values, *, priors=None, upper_threshold=None, tails="upper", **_):
    import pymc as pm
    import pytensor.tensor as pt

    from sbp_bayes.distributions.gpd import gpd_logpdf

    if tails != "upper":
        raise ValueError("family='pot_gpd' models the upper tail; pass -data to study a lower tail.")
    threshold = _fixed_threshold(values, "upper", upper_threshold, POT_DEFAULT_SHARE)
    excess = np.sort(values[values > threshold] - threshold)
    defaults = {
        "upper_xi": DEFAULT_XI_PRIOR,
        "upper_sigma": _gpd_scale_prior(excess),
        "upper_tail_prob": Prior("Beta", alpha=1.0, beta=1.0),
    }
    resolved = _resolve_priors(defaults, priors, "pot_gpd")
    with pm.Model() as model:
        excess_data = pm.Data("upper_excess", excess)
        max_excess = pm.Data("upper_max_excess", float(excess[-1]))
        n_total = pm.Data("n_observations", float(values.size))
        rate = resolved["upper_tail_prob"].create("upper_tail_prob", parameters_as_data=True)
        # The number of exceedances is binomial: this is what estimates the rate.
        pm.Potential(
            "exceedance_count",
            excess_data.shape[0] * pt.log(rate) + (n_total - excess_data.shape[0]) * pt.log1p(-rate),
        )
        gpd_sigma = resolved["upper_sigma"].create("upper_sigma", parameters_as_data=True)
        xi = tail_shape("upper", resolved["upper_xi"], gpd_sigma, max_excess)
        pm.Potential("likelihood", pt.sum(gpd_logpdf(excess_data, xi, gpd_sigma)))
    edges = np.concatenate([_empirical_body_edges(values, threshold), [values.max() + 1.0]])
    body_counts = np.histogram(values[values <= threshold], bins=edges[:-1])[0].astype(float)
    info = {
        "priors": {k: v.to_config() for k, v in resolved.items()},
        "upper_threshold": threshold,
        "body_edges": edges.tolist(),
        "body_counts": body_counts.tolist(),
    }

    def complete(posterior, rng):
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        return posterior.assign(upper_threshold=(("chain", "draw"), np.full(shape, threshold)))

    design = Design(edges, np.array([], dtype=int), np.array([edges.size - 2]))
    return BuiltModel(
        model, info, design=design, checked=["upper_xi", "upper_sigma", "upper_tail_prob"], complete=complete
    )


def _pot_distribution(fit, thin=1):
    """The GPD above the threshold with its posterior rate; below it, the empirical
    distribution of the data (not modelled by a POT analysis, read as it is)."""
    post = fit.idata["posterior"]
    info = fit.config["family_info"]
    edges = np.asarray(info["body_edges"], dtype=float)
    counts = np.asarray(info["body_counts"], dtype=float)
    rate = _flat(post, "upper_tail_prob", thin)
    body_share = counts / counts.sum()
    probs = np.concatenate([(1.0 - rate)[:, None] * body_share[None, :], rate[:, None]], axis=1)
    n = rate.size
    return FrozenSplicedBinnedPareto(
        edges,
        probs,
        np.zeros(n),
        rate,
        np.zeros(n),
        np.ones(n),
        _flat(post, "upper_xi", thin),
        _flat(post, "upper_sigma", thin),
        has_lower_tail=False,
        has_upper_tail=True,
        known_lower_threshold=np.full(n, edges[0]),
        known_upper_threshold=np.full(n, float(info["upper_threshold"])),
    )


# ----------------------------------------------------------------------------- SBP with continuity


def _build_sbp_continuous(
    values,
    *,
    bins=30,
    tails="both",
    lower_threshold=None,
    upper_threshold=None,
    priors=None,
    lower_bound=None,
    upper_bound=None,
    **_,
):
    import pymc as pm
    import pytensor.tensor as pt

    from sbp_bayes.distributions.gpd import gpd_logpdf

    fixed = {}
    for side in ("lower", "upper"):
        if tails in ("both", side):
            given = lower_threshold if side == "lower" else upper_threshold
            fixed[side] = _fixed_threshold(values, side, given, DEFAULT_TAIL_SHARE)
    design = make_design(
        values,
        bins=bins,
        tails=tails,
        lower_threshold=fixed.get("lower"),
        upper_threshold=fixed.get("upper"),
        lower_bound=lower_bound,
        upper_bound=upper_bound,
    )
    stats = summarise(values, design)
    defaults = {"bin_probs": Prior("Dirichlet", a=1.0)}
    for side in fixed:
        defaults[f"{side}_xi"] = DEFAULT_XI_PRIOR
    resolved = _resolve_priors(defaults, priors, "sbp_continuous")
    n_bins = design.n_bins
    widths = design.widths
    concentration = np.broadcast_to(
        np.asarray(resolved["bin_probs"].parameters.get("a", 1.0), dtype=float), (n_bins,)
    )
    l_edge = int(design.lower_candidates[0]) if design.lower_candidates.size else 0
    m_edge = int(design.upper_candidates[0]) if design.upper_candidates.size else n_bins
    body_counts = stats.counts.astype(float).copy()
    if stats.upper is not None:
        body_counts[m_edge - 1] += stats.upper.at_candidate[0]  # points on the threshold are body points
    with pm.Model(coords={"bin": np.arange(n_bins)}) as model:
        counts = pm.Data("body_counts", body_counts[l_edge:m_edge])
        probs = pm.Dirichlet("bin_probs", a=concentration, dims="bin")
        total = pt.sum(counts * (pt.log(probs[l_edge:m_edge]) - np.log(widths[l_edge:m_edge])))
        for side in fixed:
            summary = getattr(stats, side)
            excess = pm.Data(f"{side}_excess", summary.excess)
            max_excess = pm.Data(f"{side}_max_excess", summary.max_excess)
            if side == "upper":
                mass = pt.sum(probs[m_edge:])
                density_at_threshold = probs[m_edge - 1] / widths[m_edge - 1]
            else:
                mass = pt.sum(probs[:l_edge])
                density_at_threshold = probs[l_edge] / widths[l_edge]
            mass = pm.Deterministic(f"{side}_tail_prob", mass)
            # Continuity at the splice: a g(0) = a / sigma equals the body density there.
            gpd_sigma = pm.Deterministic(f"{side}_sigma", mass / density_at_threshold)
            xi = tail_shape(side, resolved[f"{side}_xi"], gpd_sigma, max_excess)
            total = total + excess.shape[0] * pt.log(mass) + pt.sum(gpd_logpdf(excess, xi, gpd_sigma))
        pm.Potential("likelihood", total)
    info = {
        "priors": {k: v.to_config() for k, v in resolved.items()},
        **{f"{s}_threshold": u for s, u in fixed.items()},
    }

    def complete(posterior, rng):
        shape = (posterior.sizes["chain"], posterior.sizes["draw"])
        return posterior.assign(
            {f"{side}_threshold": (("chain", "draw"), np.full(shape, u)) for side, u in fixed.items()}
        )

    checked = [f"{side}_{name}" for side in fixed for name in ("xi", "sigma", "tail_prob")]
    return BuiltModel(model, info, design=design, checked=checked, complete=complete)


def _sbp_like_distribution(fit, thin=1):
    """The canonical SBP of every draw (families whose posterior holds its parameters)."""
    post = fit.idata["posterior"]
    probs = _flat(post, "bin_probs", thin)
    n = probs.shape[0]
    edges = np.asarray(fit.design.bin_edges)
    params = {}
    for side in ("lower", "upper"):
        if f"{side}_xi" in post:
            params[side] = [
                _flat(post, f"{side}_{name}", thin) for name in ("tail_prob", "xi", "sigma", "threshold")
            ]
        else:
            params[side] = [
                np.zeros(n),
                np.zeros(n),
                np.ones(n),
                np.full(n, edges[0] if side == "lower" else edges[-1]),
            ]
    return FrozenSplicedBinnedPareto(
        edges,
        probs,
        params["lower"][0],
        params["upper"][0],
        params["lower"][1],
        params["lower"][2],
        params["upper"][1],
        params["upper"][2],
        has_lower_tail="lower_xi" in post,
        has_upper_tail="upper_xi" in post,
        known_lower_threshold=params["lower"][3],
        known_upper_threshold=params["upper"][3],
    )


#: How each static family of the registry (:mod:`sbp_bayes.families.registry`) is built and
#: read back: ``(build, distribution)``; the SBP's build is :mod:`sbp_bayes.families.sbp`.
_IMPLEMENTATIONS = {
    "sbp": (build_sbp, _sbp_like_distribution),
    "sbp_continuous": (_build_sbp_continuous, _sbp_like_distribution),
    "binned": (_build_binned, _binned_distribution),
    "normal": (_build_normal, _normal_distribution),
    "student_t": (_build_student_t, _student_t_distribution),
    "gpd_normal_gpd": (_build_gng, _gng_distribution),
    "pot_gpd": (_build_pot, _pot_distribution),
}


def _family(name: str) -> Family:
    form = REGISTRY[name].static
    build, distribution = _IMPLEMENTATIONS[name]
    return Family(
        name,
        form.description,
        build=build,
        distribution=distribution,
        options=form.options,
        priors=form.priors,
        scope=form.scope,
        quadrature=name == "sbp",  # only the SBP's per-candidate GPD posteriors are tabulated
    )


#: The static families by name, in the registry's order.
FAMILIES: dict[str, Family] = {name: _family(name) for name in static_family_names()}


def get_family(name: str) -> Family:
    """The family called ``name`` (see :data:`FAMILIES`)."""
    return FAMILIES[family_entry(name).name]
