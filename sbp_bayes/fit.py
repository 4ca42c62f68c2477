"""``fit()`` and its result, :class:`SBPFit`: sampling, diagnostics gate, save and load.

A fit runs NUTS on the collapsed model of :mod:`sbp_bayes.model` (GPD shapes and
scales; thresholds and bin probabilities integrated out), then completes every draw
exactly: the threshold of each tail is drawn from its conditional posterior given the
draw's GPD parameters (the per-candidate probabilities the model stores), and the
bin probabilities from their conjugate Dirichlet posterior given the thresholds. The
result holds, per draw, the full canonical SBP parameter set under the names of
:class:`~sbp_bayes.SplicedBinnedPareto`:

``bin_probs``, ``lower_tail_prob``, ``upper_tail_prob``, ``lower_xi``, ``lower_sigma``,
``upper_xi``, ``upper_sigma`` (the GPD scale at the drawn threshold), and
``lower_threshold`` / ``upper_threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from sbp_bayes.diagnostics import (
    BFMI_MIN,
    DIVERGENCE_FRACTION_MAX,
    ESS_MIN,
    RHAT_MAX,
    DiagnosticsReport,
    convergence_report,
)
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
    prepare_data,
    summarise,
)
from sbp_bayes.persistence import (
    load,
    own_attrs,
    package_version,
    read_meta,
    with_metadata,
)
from sbp_bayes.priors import Prior
from sbp_bayes.results import PREDICTIVE_CHUNK_ELEMENTS, FitResult, Predictive
from sbp_bayes.sampling import SAMPLERS, check_sampler, check_sampler_settings, sample

__all__ = ["SAMPLERS", "DiagnosticsReport", "SBPFit", "check_sampler_settings", "fit", "load"]

#: How candidate thresholds are weighed (see :func:`fit`).
THRESHOLD_WEIGHTS = ("cross_validation", "posterior")
#: Largest pointwise log-likelihood (observations x draws) stored automatically.
AUTO_LOG_LIKELIHOOD_LIMIT = 20_000_000


# ----------------------------------------------------------------------------- sampling


# NUTS itself (samplers, compiled-model cache) lives in sbp_bayes.sampling.


# ----------------------------------------------------------------------------- completion


def _draw_candidates(logprob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One candidate index per draw from per-draw log probabilities (last axis)."""
    probs = np.exp(logprob - logprob.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probs, axis=-1)
    u = rng.random(logprob.shape[:-1])[..., None] * cumulative[..., -1:]
    return np.minimum((cumulative < u).sum(axis=-1), logprob.shape[-1] - 1)


def _complete_posterior(
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
            chosen = _draw_candidates(logprob, rng)  # index in ascending threshold order
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


def _weigh_candidates(
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
    from sbp_bayes.model import threshold_log_prior
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


# ----------------------------------------------------------------------------- result


class SBPFit(FitResult):
    """A fitted spliced binned-Pareto model.

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior`` (all SBP parameters per draw, plus the sampled ``*_sigma_ref`` and
        per-draw candidate probabilities ``*_threshold_logprob``), ``sample_stats``,
        ``observed_data`` (``y``), ``log_likelihood`` (``y``, when computed) and
        ``posterior_predictive`` (when asked for).
    data : pandas.Series
        The data as fitted (index kept).
    design : Design
        Bin edges and candidate thresholds.
    config : dict
        The options the fit was made with (JSON-serialisable).
    version : str
        sbp_bayes version that made the fit.

    The result contract of every kind of fit (:class:`sbp_bayes.results.FitResult`),
    ``kind == "static"``; every baseline family of :mod:`sbp_bayes.families` gives one.
    """

    kind = "static"

    def __init__(self, idata: xr.DataTree, data: pd.Series, design: Design, config: dict, version: str):
        self.idata = idata
        self.data = data
        self.design = design
        self.config = config
        self.version = version

    @classmethod
    def from_idata(cls, model, idata, *, random_seed=None) -> SBPFit:
        """The fit of a trace of a :func:`sbp_bayes.build_model` model, extended or not.

        Build the model with :func:`sbp_bayes.build_model`, add your own variables inside
        ``with model:``, sample it (``pm.sample``), and pass the model and its trace here.
        Every draw is completed exactly as :func:`sbp_bayes.fit` does: each tail's
        threshold is drawn from its conditional posterior given the draw (the stored
        ``*_threshold_logprob``), then the bin probabilities from their conjugate
        Dirichlet posterior given the thresholds. The result answers everything an
        :class:`SBPFit` does (return levels, reports, save). The completion is exact for
        any extension: thresholds and bin probabilities are not variables of the model, so
        their conditional posterior given a draw of the GPD parameters is the model's own.
        When the extension does not change the posterior of the GPD parameters, the
        answers are those of ``fit(data, threshold_weights="posterior")`` up to Monte Carlo
        error.

        Parameters
        ----------
        model : pymc.Model
            The model made by :func:`sbp_bayes.build_model` (with any variables added).
        idata : xarray.DataTree
            Its trace, with a ``posterior`` group holding ``*_xi``, ``*_sigma_ref`` and
            ``*_threshold_logprob`` of each tail (``pm.sample`` stores them). The other
            groups (``sample_stats``, your variables) are kept.
        random_seed : int, optional
            Seed of the completion draws.

        Returns
        -------
        SBPFit
            With ``config["sampler"] == "external"`` and the posterior weighing of the
            candidates (``threshold_weights="posterior"``).

        Examples
        --------
        >>> import numpy as np, pymc as pm, sbp_bayes
        >>> x = np.random.default_rng(0).standard_t(4, size=1000)
        >>> model = sbp_bayes.build_model(x, bins=20)
        >>> with model:
        ...     unrelated = pm.Normal("unrelated", 0.0, 1.0)  # your own variables
        ...     idata = pm.sample(500, tune=500, chains=2, progressbar=False)  # doctest: +SKIP
        >>> result = sbp_bayes.SBPFit.from_idata(model, idata)  # doctest: +SKIP
        >>> result.return_levels([100])  # doctest: +SKIP
        """
        parts = model_parts(model)
        if parts.kind != "marginalised" or parts.observed is None:
            raise ValueError(
                "SBPFit.from_idata needs a model made by sbp_bayes.build_model(data, ...), whose "
                "likelihood is the observed variable 'y'; this one was built "
                + ("per candidate threshold." if parts.kind != "marginalised" else "from statistics alone.")
            )
        if not isinstance(idata, xr.DataTree) or "posterior" not in idata.children:
            raise ValueError(
                "idata must be the trace of the model (an xarray.DataTree with a 'posterior' group, "
                f"as pm.sample returns); got {type(idata).__name__}"
                + ("" if not isinstance(idata, xr.DataTree) else " without a 'posterior' group")
                + "."
            )
        posterior = idata["posterior"].to_dataset()
        sides = [side for side in ("lower", "upper") if getattr(parts.statistics, side) is not None]
        needed = [f"{side}_{name}" for side in sides for name in ("xi", "sigma_ref", "threshold_logprob")]
        missing = [name for name in needed if name not in posterior]
        if missing:
            raise ValueError(
                f"The trace lacks {', '.join(missing)}: the completion of thresholds and bin "
                "probabilities reads them. Sample without var_names (pm.sample stores every "
                "variable of the model by default), or include them."
            )
        design, stats = parts.design, parts.statistics
        rng = np.random.default_rng(random_seed)
        completed = _complete_posterior(posterior, design, stats, parts.concentration, rng)
        tree = idata.copy()
        for group in ("log_likelihood", "posterior_predictive"):
            if group in tree.children:  # the model's own terms: recompute with the fit's methods
                del tree[group]
        tree["posterior"] = xr.DataTree(completed)
        obs_id = parts.obs_id if parts.obs_id is not None else np.arange(parts.observed.size)
        tree["observed_data"] = xr.DataTree(
            xr.Dataset({"y": (("obs_id",), parts.observed)}, coords={"obs_id": obs_id})
        )
        series = pd.Series(parts.observed, index=pd.Index(obs_id), name="y")
        n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
        config = {
            "family": "sbp",
            "family_info": {
                "priors": {k: v.to_config() for k, v in parts.priors.items()},
                "threshold_weights": "posterior",
            },
            "bins": None,
            "tails": design.tails,
            "priors": {k: v.to_config() for k, v in parts.priors.items()},
            "threshold_priors": {
                k: (v if isinstance(v, str) else np.asarray(v).tolist())
                for k, v in parts.threshold_priors.items()
            },
            "draws": int(n_draw),
            "chains": int(n_chain),
            "random_seed": random_seed,
            "sampler": "external",
            "n_observations": int(parts.observed.size),
            "n_omitted": 0,
        }
        return cls(tree, series, design, config, package_version())

    # -- basic views ----------------------------------------------------------------------

    @property
    def tails(self) -> str:
        """Which tails have a GPD: ``"both"``, ``"upper"``, ``"lower"`` or ``"none"``."""
        if self.design is None:  # baselines without bins (normal, student_t, gpd_normal_gpd)
            return self.config.get("tails", "none")
        return self.design.tails

    @property
    def posterior(self) -> xr.Dataset:
        return self.idata["posterior"].to_dataset()

    @property
    def sides(self) -> list[str]:
        """The tails with a GPD, lower first (those with a shape in the posterior)."""
        return [side for side in ("lower", "upper") if f"{side}_xi" in self.idata["posterior"]]

    def _sides(self) -> list[str]:
        """:attr:`sides` under its former name."""
        return self.sides

    @property
    def family(self) -> str:
        """The model family (``"sbp"`` unless a baseline was asked for)."""
        return self.config.get("family", "sbp")

    def _threshold_is_fixed(self, side: str) -> bool:
        if self.family != "sbp":
            return True
        candidates = self.design.lower_candidates if side == "lower" else self.design.upper_candidates
        return candidates.size == 1

    def _checked_parameters(self) -> list[str]:
        """The parameters whose convergence :meth:`check` assesses."""
        if self.family != "sbp":
            return list(self.config.get("family_info", {}).get("checked", []))
        names = []
        posterior = self.idata["posterior"]
        for side in self.sides:
            names += [f"{side}_xi", f"{side}_sigma_ref", f"{side}_sigma", f"{side}_tail_prob"]
        sampled_by_nuts = self.config.get("sampler") not in ("quadrature", "exact")
        for side in self.sides if sampled_by_nuts else ():
            # Per-candidate NUTS draws: the sampled GPD parameters themselves.
            names += [
                name
                for name in (f"{side}_xi_by_candidate", f"{side}_sigma_by_candidate")
                if name in posterior
            ]
        return names

    def parameter_names(self) -> list[str]:
        """The tail parameters of this fit, in reporting order (a fixed threshold, which
        does not vary, is left out); for baselines without tails, their parameters."""
        if self.family != "sbp" and not self.sides:
            # The binned baseline has exact draws and no sampled parameter: its bin probabilities.
            return self._checked_parameters() or ["bin_probs"]
        names = []
        for side in self.sides:
            names += [f"{side}_xi", f"{side}_sigma", f"{side}_tail_prob"]
            if not self._threshold_is_fixed(side):
                names.append(f"{side}_threshold")
        return names

    def summary(self, var_names: Sequence[str] | None = None, ci_prob: float = 0.95) -> pd.DataFrame:
        """Posterior summary (numbers, not strings) of the tail parameters and thresholds.

        Columns follow :func:`arviz.summary` with ``round_to="none"``: mean, sd, the
        equal-tailed ``ci_prob`` interval (default 95%, the level of every interval in the
        package; its columns name it, e.g. ``eti95_lb`` and ``eti95_ub``), MCSE, ESS and
        R-hat.
        """
        names = list(var_names) if var_names is not None else self.parameter_names()
        return self._posterior_summary(names, ci_prob)

    def __repr__(self) -> str:
        post = self.idata["posterior"]
        model = (
            f"tails={self.tails}, {self.design.n_bins} bins"
            if self.family == "sbp"
            else f"family={self.family}"
        )
        lines = [
            f"SBPFit: {len(self.data)} observations, {model}, "
            f"{post.sizes['chain']} chains x {post.sizes['draw']} draws ({self.config.get('sampler')})"
        ]
        for side in self.sides:
            xi = post[f"{side}_xi"].values
            threshold = post[f"{side}_threshold"].values
            if self.family == "sbp":
                candidates = self.design.lower_candidates if side == "lower" else self.design.upper_candidates
                where = f"threshold median {np.median(threshold):.4g} ({candidates.size} candidates)"
            else:
                where = f"threshold {np.median(threshold):.4g} (fixed)"
            lines.append(
                f"  {side} tail: xi = {np.median(xi):.3g} (median; 95% interval "
                f"{np.quantile(xi, 0.025):.3g} to {np.quantile(xi, 0.975):.3g}), {where}"
            )
        return "\n".join(lines)

    # -- diagnostics ----------------------------------------------------------------------

    def check(
        self,
        *,
        rhat_max: float = RHAT_MAX,
        ess_min: float = ESS_MIN,
        divergence_max: float = DIVERGENCE_FRACTION_MAX,
        bfmi_min: float = BFMI_MIN,
        warn: bool = True,
    ) -> DiagnosticsReport:
        """Convergence diagnostics against documented standards.

        Checks every sampled tail parameter and its derived scale and tail mass:
        rank-normalised split R-hat <= ``rhat_max`` (1.01), bulk and tail ESS >=
        ``ess_min`` (400, i.e. 100 per chain for 4 chains; Vehtari et al. 2021),
        divergent transitions <= ``divergence_max`` (1%) of the draws, and E-BFMI >=
        ``bfmi_min`` (0.3; Betancourt 2016) in every chain. Returns a
        :class:`DiagnosticsReport`; when something fails and ``warn`` is true a
        ``UserWarning`` says what failed and what to do about it.
        """
        return convergence_report(
            self.idata,
            self._checked_parameters(),
            rhat_max=rhat_max,
            ess_min=ess_min,
            divergence_max=divergence_max,
            bfmi_min=bfmi_min,
            warn=warn,
        )

    # -- the predictive distribution -----------------------------------------------------

    def distribution(self, thin: int = 1):
        """The predictive distribution of every posterior draw as one batched numpy
        distribution (batch shape ``(n_draws,)``, chains stacked): for the SBP families a
        :class:`~sbp_bayes.stats.FrozenSplicedBinnedPareto`, for the baselines the
        family's own (same interface). Use ``x[..., None]`` to evaluate values under every
        draw; averaging over the last axis gives posterior predictive quantities that
        carry threshold and parameter uncertainty."""
        from sbp_bayes.families import get_family

        return get_family(self.family).distribution(self, thin)

    def pointwise_log_likelihood(self, values=None, *, thin: int = 1, chunk_size: int = 20) -> np.ndarray:
        """Log density of each value under each posterior draw, shape ``(n_draws, n_values)``.

        Defaults to the fitted data. Computed in chunks of ``chunk_size`` values; ``thin``
        keeps every ``thin``-th draw.
        """
        x = np.asarray(self.data.values if values is None else values, dtype=float)
        dist = self.distribution(thin=thin)
        out = np.empty((dist.batch_shape[0], x.size))
        for start in range(0, x.size, chunk_size):
            block = x[start : start + chunk_size]
            out[:, start : start + block.size] = dist.logpdf(block[:, None]).T
        return out

    def compute_log_likelihood(self, *, thin: int = 1, chunk_size: int = 20) -> xr.DataTree:
        """Store the pointwise log-likelihood as the ``log_likelihood`` group (``y``).

        Each observation's log density given the draw's full parameter set, thresholds
        included — the data are conditionally i.i.d. given those, as PSIS-LOO requires.
        With ``thin > 1`` only every ``thin``-th draw of each chain is kept (noted in the
        group's attributes); memory is ``n_draws / thin x N`` floats. Chunks of 20 values
        keep the temporaries small (20 x 4000 draws stay in the CPU cache): with 2000, the
        Danish fit (4000 draws) peaked at 1.1 GB and took twice as long as with 100, which
        takes 1.6 times as long as 20.
        """
        post = self.idata["posterior"]
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        kept = np.arange(0, n_draw, thin)
        observed = self.log_likelihood_scope()
        values = self.data.values.astype(float)[observed]
        dist_full = self.distribution()
        flat_index = (np.arange(n_chain)[:, None] * n_draw + kept[None, :]).reshape(-1)
        dist = dist_full[flat_index]
        loglik = np.empty((flat_index.size, values.size))
        for start in range(0, values.size, chunk_size):
            block = values[start : start + chunk_size]
            loglik[:, start : start + block.size] = dist.logpdf(block[:, None]).T
        loglik = loglik.reshape(n_chain, kept.size, values.size)
        dataset = xr.Dataset(
            {"y": (("chain", "draw", "obs_id"), loglik)},
            coords={
                "chain": post["chain"].values,
                "draw": post["draw"].values[kept],
                "obs_id": self._obs_id()[observed],
            },
            attrs={
                "thinned_every": int(thin),
                "note": "log density of each observation given all parameters",
                "scope": self._scope_description(),
                "family": self.family,
            },
        )
        self.idata["log_likelihood"] = xr.DataTree(dataset)
        return self.idata

    def log_likelihood_scope(self) -> np.ndarray:
        """Which observations the pointwise log-likelihood covers (boolean mask): all of
        them, except for a peaks-over-threshold fit, which models only the exceedances."""
        from sbp_bayes.families import get_family

        values = self.data.values.astype(float)
        if get_family(self.family).scope == "exceedances":
            threshold = float(self.config["family_info"]["upper_threshold"])
            return values > threshold
        return np.ones(values.size, dtype=bool)

    def _scope_description(self) -> str:
        from sbp_bayes.families import get_family

        if get_family(self.family).scope == "exceedances":
            threshold = float(self.config["family_info"]["upper_threshold"])
            return f"exceedances of {threshold:.6g} only"
        return "all observations"

    def posterior_predictive(self, *, thin: int = 1, random_seed=None, max_values: int = 50_000_000):
        """Draw replicated data sets (one per kept posterior draw) as the
        ``posterior_predictive`` group (``y``, same length as the data) and return it.

        Refuses to build more than ``max_values`` numbers (say ``thin=k`` to keep every
        k-th draw) so that a million-point fit cannot exhaust memory by accident.
        """
        post = self.idata["posterior"]
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        kept = np.arange(0, n_draw, thin)
        n = len(self.data)
        total = n_chain * kept.size * n
        if total > max_values:
            need = math.ceil(n_chain * n_draw * n / max_values)
            raise MemoryError(
                f"A posterior predictive of {n_chain} x {kept.size} draws x {n} observations is "
                f"{total:,} numbers (over max_values={max_values:,}); pass thin={need} or more."
            )
        flat_index = (np.arange(n_chain)[:, None] * n_draw + kept[None, :]).reshape(-1)
        dist = self.distribution()[flat_index]
        draws = dist.rvs(size=(n, flat_index.size), random_state=random_seed).T
        dataset = xr.Dataset(
            {"y": (("chain", "draw", "obs_id"), draws.reshape(n_chain, kept.size, n))},
            coords={
                "chain": post["chain"].values,
                "draw": post["draw"].values[kept],
                "obs_id": self._obs_id(),
            },
        )
        self.idata["posterior_predictive"] = xr.DataTree(dataset)
        return self.idata["posterior_predictive"]

    def _obs_id(self):
        index = self.data.index
        if isinstance(index, pd.RangeIndex) or index.dtype.kind in "iuf":
            return np.asarray(index)
        return np.asarray(index.astype(str))

    # -- tail answers (see sbp_bayes.report) --------------------------------------------

    def tail_quantiles(self, probs=(0.001, 0.01, 0.99, 0.999), *, ci_prob=0.95, ci_kind="eti"):
        """Quantiles at ``probs`` with credible intervals (see :func:`sbp_bayes.report.tail_quantiles`)."""
        from sbp_bayes import report

        return report.tail_quantiles(self, probs, ci_prob=ci_prob, ci_kind=ci_kind)

    def return_levels(
        self,
        periods=(10, 50, 100),
        observations_per_period=None,
        *,
        tail="upper",
        ci_prob=0.95,
        ci_kind="eti",
        extremal_index=None,
    ):
        """Return levels (see :func:`sbp_bayes.report.return_levels`)."""
        from sbp_bayes import report

        return report.return_levels(
            self,
            periods,
            observations_per_period,
            tail=tail,
            ci_prob=ci_prob,
            ci_kind=ci_kind,
            extremal_index=extremal_index,
        )

    def exceedance_probability(self, x, *, tail="upper", ci_prob=0.95, ci_kind="eti", extremal_index=None):
        """Probability of exceeding ``x`` (see :func:`sbp_bayes.report.exceedance_probability`)."""
        from sbp_bayes import report

        return report.exceedance_probability(
            self, x, tail=tail, ci_prob=ci_prob, ci_kind=ci_kind, extremal_index=extremal_index
        )

    def extremal_index(self, *, method="intervals", threshold=None, tail="upper", **options):
        """The extremal index of the fitted series at the fit's threshold (see
        :func:`sbp_bayes.clusters.extremal_index`; ``threshold`` defaults to the posterior
        median of the ``tail`` threshold, ``random_seed`` to 0 so that reports repeat)."""
        from sbp_bayes.clusters import extremal_index

        if threshold is None and f"{tail}_threshold" in self.idata["posterior"]:
            threshold = float(np.median(self.idata["posterior"][f"{tail}_threshold"].values))
        options.setdefault("random_seed", 0)
        return extremal_index(self.data, threshold, method=method, tail=tail, **options)

    def value_at_risk(self, levels=(0.95, 0.99), *, tail="upper", ci_prob=0.95, ci_kind="eti"):
        """Value at risk (see :func:`sbp_bayes.report.value_at_risk`)."""
        from sbp_bayes import report

        return report.value_at_risk(self, levels, tail=tail, ci_prob=ci_prob, ci_kind=ci_kind)

    def expected_shortfall(self, levels=(0.95, 0.99), *, tail="upper", ci_prob=0.95, ci_kind="eti"):
        """Expected shortfall (see :func:`sbp_bayes.report.expected_shortfall`)."""
        from sbp_bayes import report

        return report.expected_shortfall(self, levels, tail=tail, ci_prob=ci_prob, ci_kind=ci_kind)

    def threshold_weights(self):
        """Weight of each candidate threshold (see :func:`sbp_bayes.report.threshold_weights`)."""
        from sbp_bayes import report

        return report.threshold_weights(self)

    def threshold_posterior(self):
        """The same table as :meth:`threshold_weights` (its historical name)."""
        return self.threshold_weights()

    def tail_shape_posterior(self, *, ci_prob=0.95, ci_kind="eti"):
        """Posterior of the tail shapes (see :func:`sbp_bayes.report.tail_shape_posterior`)."""
        from sbp_bayes import report

        return report.tail_shape_posterior(self, ci_prob=ci_prob, ci_kind=ci_kind)

    def score(self, values=None, *, ci_prob=0.95, ci_kind="eti"):
        """Predictive percentile of each value, default the fitted data (see
        :func:`sbp_bayes.report.score`: the columns of every kind's ``score`` and the
        per-draw interval of the tail probability)."""
        from sbp_bayes import report

        return report.score(self, self.data if values is None else values, ci_prob=ci_prob, ci_kind=ci_kind)

    def _observations(self, new_data) -> tuple[np.ndarray, pd.Index]:
        """Values and index of ``new_data`` (default: the fitted data)."""
        if new_data is None:
            return self.data.to_numpy(dtype=float), self.data.index
        if isinstance(new_data, pd.Series):
            values, index = new_data.to_numpy(dtype=float), new_data.index
        else:
            values = np.asarray(new_data, dtype=float)
            index = pd.RangeIndex(values.size, name="observation")
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise ValueError("new_data must be a non-empty 1-D array or Series of finite numbers.")
        return values, index

    def predictive(self, new_data=None, *, thin: int = 1) -> Predictive:
        """The predictive of each value of ``new_data`` (default: the fitted data) under
        every ``thin``-th posterior draw: a :class:`~sbp_bayes.results.Predictive` of
        batch ``(draws, observations)``, the same law (:meth:`distribution`) for every
        observation of this i.i.d. model."""
        values, index = self._observations(new_data)
        return Predictive.shared(self.distribution(thin), values.size, index)

    def _prediction_chunks(self, new_data, thin: int):
        values, index = self._observations(new_data)
        dist = self.distribution(thin)
        size = max(1, PREDICTIVE_CHUNK_ELEMENTS // dist.batch_shape[0])
        for start in range(0, values.size, size):
            part = slice(start, start + size)
            yield values[part], index[part], Predictive.shared(dist, values[part].size, index[part])

    # -- persistence ----------------------------------------------------------------------

    def to_datatree(self, *, include_derived: bool = False) -> xr.DataTree:
        """The fit as one tree (:mod:`sbp_bayes.persistence`): the groups of :attr:`idata`
        and, as JSON in the root's ``sbp_bayes`` attribute, the configuration, design,
        version and the data's name, attributes and index kind."""
        tree = xr.DataTree.from_dict(self._idata_groups(include_derived))
        tree.attrs = dict(self.idata.attrs)
        meta = {
            "config": self.config,
            "design": None if self.design is None else self.design.to_config(),
            "version": self.version,
            "data_name": self.data.name,
            "data_attrs": {k: v for k, v in self.data.attrs.items() if isinstance(v, (str, int, float))},
            "index_kind": "range"
            if isinstance(self.data.index, pd.RangeIndex)
            else str(self.data.index.dtype),
        }
        return with_metadata(tree, "static", meta)

    @classmethod
    def from_datatree(cls, tree: xr.DataTree) -> SBPFit:
        """The fit stored by :meth:`to_datatree` (a file's root or a nested group)."""
        meta = read_meta(tree, "static")
        idata = xr.DataTree.from_dict({f"/{name}": node.to_dataset() for name, node in tree.children.items()})
        idata.attrs = own_attrs(tree.attrs)
        observed = idata["observed_data"]["y"]
        index = observed["obs_id"].values
        if meta.get("index_kind") == "range":
            index = pd.RangeIndex(len(index))
        elif str(meta.get("index_kind", "")).startswith("datetime64"):
            index = pd.DatetimeIndex(pd.to_datetime(index, format="ISO8601"))  # dates were saved as text
        data = pd.Series(observed.values, index=index, name=meta.get("data_name"))
        data.attrs.update(meta.get("data_attrs", {}))
        design = None if meta.get("design") is None else Design.from_config(meta["design"])
        return cls(idata, data, design, meta["config"], meta["version"])


# ----------------------------------------------------------------------------- fit


def fit(
    data,
    *,
    family: str = "sbp",
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
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    sampler: str = "auto",
    progressbar: bool = True,
    nan_policy: str = "raise",
    log_likelihood: bool | str = "auto",
    decluster: int | Mapping | None = None,
    cluster_adjustment: str | None = None,
) -> SBPFit:
    """Fit a spliced binned-Pareto distribution by NUTS, with priors on the thresholds.

    Parameters
    ----------
    data : array_like or pandas.Series
        Observations (a Series keeps its index for reporting).
    family : str
        ``"sbp"`` (default) or a baseline from :mod:`sbp_bayes.families`
        (``"sbp_continuous"``, ``"binned"``, ``"normal"``, ``"student_t"``,
        ``"gpd_normal_gpd"``, ``"pot_gpd"``), fitted through the same interface and
        returning the same result type.
    bins : int or sequence of float
        Number of equal-width body bins between the innermost candidate thresholds,
        or their interior edges (default 30; the ``binned`` baseline: 50 over the data).
    tails : {"both", "upper", "lower"}
        Which tails get a GPD (default ``"both"``; ``pot_gpd``: ``"upper"``). A side
        without a tail ends at the data's extreme value (or ``lower_bound``/``upper_bound``).
    lower_threshold, upper_threshold : float, sequence of float or None
        ``None`` (default): a uniform prior over ``n_candidates`` candidate thresholds
        (see :func:`sbp_bayes.model.make_design`). A float fixes the threshold; a
        sequence gives the candidates.
    priors : dict
        Overrides of the default priors (:func:`sbp_bayes.model.default_priors`), e.g.
        ``{"upper_xi": Prior("Normal", mu=0.2, sigma=0.2)}``; ``upper_sigma`` is the
        GPD scale at the innermost candidate threshold.
    threshold_priors : dict
        ``{"upper": weights}`` over the candidates (ascending), default uniform.
    threshold_weights : {"cross_validation", "posterior"}
        How the candidate thresholds are weighed. ``"cross_validation"`` (default): each
        candidate's GPD is fitted on its own exceedances (the posterior of a fit with that
        threshold fixed) and the candidates are weighed by how well they predict every
        observation out of sample relative to the outermost candidate (exact leave-one-out,
        Northrop, Attalides & Jonathan 2017; :mod:`sbp_bayes.threshold_selection`); the
        answers average over candidates with those weights (``fit.threshold_posterior()``,
        ``idata["threshold_weights"]``). ``"posterior"``: the joint Bayesian model with the
        candidates marginalised (:mod:`sbp_bayes.model`), whose posterior over candidates
        is decided by how the body is binned between them and piles on the innermost one
        on real data — kept for comparison and for simulation-based calibration.
    draws, tune, chains, random_seed, progressbar
        Sampler settings.
    sampler : {"auto", "quadrature", "nutpie", "pymc", "numpyro"}
        ``"auto"`` (default): ``"quadrature"`` for the default SBP fit — each candidate's
        GPD posterior is two-dimensional and is tabulated on a grid, giving i.i.d. draws
        with no compilation (the same tables give the cross-validation weights) — and
        nutpie's NUTS for every other model. Naming a NUTS implementation samples the
        per-candidate model (:func:`sbp_bayes.model.build_candidate_model`) with it. nutpie
        compiles once per model structure and keeps the compiled code in memory and on
        disk (:func:`sbp_bayes.sampling.cache_dir`), so later fits of the same structure,
        in any process, reuse it.
    nan_policy : {"raise", "omit"}
        NaN in the data raise a :class:`~sbp_bayes.model.DataError` unless omitted
        explicitly.
    log_likelihood : bool or "auto"
        Store the pointwise log-likelihood (for LOO). ``"auto"`` stores it when it has
        at most 2e7 entries; otherwise call :meth:`SBPFit.compute_log_likelihood`.
    decluster : int or dict, optional
        Fit the tail to cluster maxima: runs declustering of the (time-ordered) data
        before the fit (:func:`sbp_bayes.clusters.decluster_option`): a run length, or
        ``{"threshold": u, "run_length": r, "tail": "upper"}``. Observations per year
        follow the kept observations, so return levels are per cluster.
    cluster_adjustment : {None, "sandwich", "extremal_index"}
        For a series whose extremes come in clusters (use with
        ``fit.return_levels(..., extremal_index=...)``): ``None`` (default) treats every
        exceedance as independent evidence about the tail, which makes the tail's
        posterior too narrow for clustered data. ``"sandwich"`` tempers each candidate's
        GPD log-likelihood by the magnitude adjustment of a composite likelihood
        (:func:`sbp_bayes.threshold_selection.magnitude_adjustment`; clusters from
        :func:`sbp_bayes.clusters.exceedance_groups`), the exceedance counts by the
        clusters' size variance, and weighs the candidates by leave-one-*cluster*-out
        scores; ``"extremal_index"`` tempers by clusters per exceedance instead (as if
        each cluster carried the information of one excess: more conservative, and on
        simulated clustered series the better calibrated of the two, because the
        sandwich's cluster-level variability is a noisy estimate from a hundred or so
        clusters). Default SBP fit only (cross-validation weights, quadrature); the
        weights are in ``idata["threshold_weights"]`` (``upper_likelihood_weight``,
        ``upper_count_weight``).

    Returns
    -------
    SBPFit

    Examples
    --------
    >>> import numpy as np, sbp_bayes
    >>> x = np.random.default_rng(1).standard_t(4, size=2000)
    >>> result = sbp_bayes.fit(x, draws=300, tune=300, chains=2, progressbar=False,
    ...                        random_seed=1)  # doctest: +SKIP
    >>> result.summary().loc["upper_xi", "mean"] > 0  # doctest: +SKIP
    True
    """
    check_sampler(sampler)
    check_sampler_settings(draws, tune, chains)  # before compiling: draws=0 would fail after sampling
    if threshold_weights not in THRESHOLD_WEIGHTS:
        raise ValueError(
            f"threshold_weights must be one of {', '.join(map(repr, THRESHOLD_WEIGHTS))}; "
            f"got {threshold_weights!r}."
        )
    from sbp_bayes.families import get_family

    family_spec = get_family(family)
    if cluster_adjustment is not None:
        from sbp_bayes.threshold_selection import CLUSTER_ADJUSTMENTS

        if cluster_adjustment not in CLUSTER_ADJUSTMENTS:
            raise ValueError(
                f"cluster_adjustment must be None or one of {', '.join(map(repr, CLUSTER_ADJUSTMENTS))}; "
                f"got {cluster_adjustment!r}."
            )
        if decluster is not None:
            raise ValueError(
                "Use either decluster (fit the tail to cluster maxima) or cluster_adjustment (fit every "
                "exceedance, with a likelihood adjusted for the clusters), not both: together they would "
                "count the clustering twice."
            )
    if decluster is not None:
        from sbp_bayes.clusters import decluster_option

        data = decluster_option(data, decluster, tails)
    values, index = prepare_data(data, nan_policy=nan_policy)
    name = data.name if isinstance(data, pd.Series) and data.name is not None else "y"
    series = pd.Series(values, index=index, name=name)
    if isinstance(data, pd.Series):
        series.attrs.update(data.attrs)
    if "observations_per_year" not in series.attrs:
        # Dated data: return periods in years without being told the rate (sbp_bayes.dates).
        from sbp_bayes.dates import rate_attrs

        series.attrs.update(rate_attrs(series))

    seeds = np.random.SeedSequence(random_seed)
    sampler_seed, completion_seed = seeds.spawn(2)
    seed = int(sampler_seed.generate_state(1)[0])
    completion_rng = np.random.default_rng(completion_seed)

    if family == "sbp":
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
        if cluster_adjustment is not None and (family != "sbp" or sampler != "quadrature"):
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
        if weighing == "cross_validation":
            resolved_priors = candidate_priors(stats, priors)
            posterior = None
            if sampler != "quadrature":
                model = build_candidate_model(stats, design, priors)
                idata = sample(
                    model, sampler, draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar
                )
                posterior = idata["posterior"].to_dataset()
            else:
                idata = xr.DataTree()
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
            posterior, chosen, weights_table = _weigh_candidates(
                posterior,
                design,
                stats,
                resolved_priors,
                alpha,
                threshold_priors,
                completion_rng,
                chains=chains,
                draws=draws,
                groups_by_side=groups_by_side,
                cluster_adjustment=cluster_adjustment or "sandwich",
            )
            if cluster_adjustment is not None:
                count_weight = np.ones((chains, draws))
                for side, chosen_side in chosen.items():
                    # chosen is the ascending candidate index, as the weights table's axis.
                    per_candidate = weights_table[f"{side}_count_weight"].values
                    count_weight = np.minimum(count_weight, per_candidate[chosen_side])
                weights_table.attrs["cluster_adjustment"] = cluster_adjustment
            idata["threshold_weights"] = xr.DataTree(weights_table)
        else:
            model = build_model_from_statistics(stats, design, priors, threshold_priors)
            parts = model_parts(model)
            resolved_priors, alpha, chosen = parts.priors, parts.concentration, None
            idata = sample(
                model, sampler, draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar
            )
            posterior = idata["posterior"].to_dataset()
        posterior = _complete_posterior(
            posterior,
            design,
            stats,
            alpha,
            completion_rng,
            chosen,
            count_weight if cluster_adjustment is not None else None,
        )
        family_info = {
            "priors": {k: v.to_config() for k, v in resolved_priors.items()},
            "threshold_weights": weighing,
        }
    else:
        if sampler == "quadrature":
            raise ValueError(
                f"sampler='quadrature' applies only to the SBP family; family={family!r} is sampled "
                "by NUTS: use sampler='auto', 'nutpie', 'pymc' or 'numpyro'."
            )
        sampler = "nutpie" if sampler == "auto" else sampler
        family_options = {"bins": bins, "tails": tails}
        built = family_spec.build(
            values,
            **{key: value for key, value in family_options.items() if value is not None},
            lower_threshold=lower_threshold,
            upper_threshold=upper_threshold,
            priors=priors,
            lower_bound=lower_bound,
            upper_bound=upper_bound,
        )
        design = built.design
        if built.exact_draws is not None:
            idata = xr.DataTree.from_dict({"posterior": built.exact_draws(chains, draws, completion_rng)})
        else:
            idata = sample(
                built.model,
                sampler,
                draws=draws,
                tune=tune,
                chains=chains,
                seed=seed,
                progressbar=progressbar,
            )
        posterior = idata["posterior"].to_dataset()
        if built.complete is not None:
            posterior = built.complete(posterior, completion_rng)
        family_info = {**built.info, "checked": built.checked}
    idata["posterior"] = xr.DataTree(posterior)
    idata["observed_data"] = xr.DataTree(
        xr.Dataset({"y": (("obs_id",), values)}, coords={"obs_id": _obs_coordinate(index)})
    )

    config = {
        "family": family,
        "family_info": family_info,
        "bins": bins if bins is None or np.ndim(bins) == 0 else list(np.asarray(bins, dtype=float)),
        "tails": design.tails if design is not None else family_info.get("tails", "none"),
        "lower_threshold": lower_threshold,
        "upper_threshold": upper_threshold,
        "n_candidates": n_candidates,
        "tail_fraction": tail_fraction,
        "max_tail_points": max_tail_points,
        "min_tail_points": min_tail_points,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
        "priors": family_info["priors"],
        "threshold_priors": {
            k: (v if isinstance(v, str) else np.asarray(v).tolist())
            for k, v in (threshold_priors or {}).items()
        },
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "random_seed": random_seed,
        "sampler": "exact" if family == "binned" else sampler,
        "nan_policy": nan_policy,
        "n_observations": int(values.size),
        "n_omitted": int(np.size(data) - values.size) if nan_policy == "omit" else 0,
        "decluster": series.attrs.get("declustering"),
        "cluster_adjustment": cluster_adjustment,
    }
    result = SBPFit(idata, series, design, config, package_version())
    if log_likelihood is True or (
        log_likelihood == "auto" and values.size * result.n_draws <= AUTO_LOG_LIKELIHOOD_LIMIT
    ):
        result.compute_log_likelihood()
    return result


def _obs_coordinate(index: pd.Index):
    if isinstance(index, pd.RangeIndex) or index.dtype.kind in "iuf":
        return np.asarray(index)
    return np.asarray(index.astype(str))
