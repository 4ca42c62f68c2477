"""``fit()`` and its result, :class:`SBPFit`: sampling, diagnostics gate, save and load.

``fit()`` runs one path for every family of :mod:`sbp_bayes.families`: the family builds
its model (:class:`~sbp_bayes.families.base.BuiltModel`), which is sampled (NUTS) or drawn
exactly (conjugate draws, the SBP's quadrature), and the family completes the draws. For
the SBP (:mod:`sbp_bayes.families.sbp`) the completion draws the threshold of each tail
from its conditional posterior given the draw's GPD parameters, and the bin probabilities
from their conjugate Dirichlet posterior given the thresholds. The result holds, per
draw, the full canonical SBP parameter set under the names of
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
from sbp_bayes.families import get_family
from sbp_bayes.families.sbp import THRESHOLD_WEIGHTS, complete_posterior
from sbp_bayes.model import (
    DEFAULT_MAX_TAIL_POINTS,
    DEFAULT_MIN_TAIL_POINTS,
    DEFAULT_TAIL_FRACTION,
    Design,
    model_parts,
    prepare_data,
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

#: Largest pointwise log-likelihood (observations x draws) stored automatically.
AUTO_LOG_LIKELIHOOD_LIMIT = 20_000_000


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
        completed = complete_posterior(posterior, design, stats, parts.concentration, rng)
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
        values = self.data.values.astype(float)
        if get_family(self.family).scope == "exceedances":
            threshold = float(self.config["family_info"]["upper_threshold"])
            return values > threshold
        return np.ones(values.size, dtype=bool)

    def _scope_description(self) -> str:
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
    family_spec = get_family(family)
    if cluster_adjustment is not None:
        from sbp_bayes.threshold_selection import CLUSTER_ADJUSTMENTS

        if cluster_adjustment not in CLUSTER_ADJUSTMENTS:
            raise ValueError(
                f"cluster_adjustment must be None or one of {', '.join(map(repr, CLUSTER_ADJUSTMENTS))}; "
                f"got {cluster_adjustment!r}."
            )
        if not family_spec.quadrature:  # the adjustment lives in the SBP's candidate weighing
            raise ValueError(
                f"cluster_adjustment applies only to the SBP family (it tempers the tail likelihood "
                f"of its candidate thresholds); family={family!r} has none. Fit the tail to cluster "
                "maxima with decluster=... instead."
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

    if sampler == "quadrature" and not family_spec.quadrature:
        raise ValueError(
            f"sampler='quadrature' applies only to the SBP family; family={family!r} is sampled "
            "by NUTS: use sampler='auto', 'nutpie', 'pymc' or 'numpyro'."
        )
    built = family_spec.build(
        values,
        # Unset: the family's own default (the SBP's 30 bins and both tails, binned's 50 bins).
        **{key: value for key, value in {"bins": bins, "tails": tails}.items() if value is not None},
        lower_threshold=lower_threshold,
        upper_threshold=upper_threshold,
        n_candidates=n_candidates,
        tail_fraction=tail_fraction,
        max_tail_points=max_tail_points,
        min_tail_points=min_tail_points,
        lower_bound=lower_bound,
        upper_bound=upper_bound,
        priors=priors,
        threshold_priors=threshold_priors,
        threshold_weights=threshold_weights,
        design=design,
        sampler=sampler,
        cluster_adjustment=cluster_adjustment,
    )
    design = built.design
    bins = built.options.get("bins", bins)
    sampler = built.sampler or ("nutpie" if sampler == "auto" else sampler)
    if built.exact_draws is not None:
        idata = xr.DataTree()
        posterior = built.exact_draws(chains, draws, completion_rng)
    else:
        idata = sample(
            built.model, sampler, draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar
        )
        posterior = idata["posterior"].to_dataset()
    if built.complete is not None:
        posterior = built.complete(posterior, completion_rng)
    for group, dataset in built.groups.items():
        idata[group] = xr.DataTree(dataset)
    family_info = built.info if built.checked is None else {**built.info, "checked": built.checked}
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
        "sampler": sampler,
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
