"""Convergence diagnostics shared by every kind of fit: :class:`DiagnosticsReport` and
:func:`convergence_report`.

Every result's ``check()`` (static :class:`~sbp_bayes.SBPFit`, dynamic
:class:`~sbp_bayes.DynamicFit`, pooled :class:`~sbp_bayes.PooledFit`) measures its sampled
parameters against the same documented standards: rank-normalised split R-hat, bulk and
tail effective sample size (Vehtari et al. 2021), the share of divergent transitions and
E-BFMI (Betancourt 2016).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "BFMI_MIN",
    "DIVERGENCE_FRACTION_MAX",
    "ESS_MIN",
    "RHAT_MAX",
    "DiagnosticsReport",
    "combine_reports",
    "convergence_report",
]

#: Convergence standards of every ``check()`` (Vehtari et al. 2021; Betancourt 2016).
RHAT_MAX = 1.01
ESS_MIN = 400
DIVERGENCE_FRACTION_MAX = 0.01
BFMI_MIN = 0.3


@dataclass
class DiagnosticsReport:
    """Outcome of a fit's ``check()``.

    ``table`` has one row per checked parameter (``r_hat``, ``ess_bulk``, ``ess_tail``
    and whether it passes); ``divergences``, ``divergence_fraction`` and ``bfmi`` (per
    chain) describe the sampler; ``problems`` says in words what failed and what to do.
    """

    table: pd.DataFrame
    divergences: int
    divergence_fraction: float
    bfmi: np.ndarray
    problems: list[str] = field(default_factory=list)
    standards: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"Diagnostics {verdict} (R-hat <= {self.standards.get('rhat_max')}, bulk and tail ESS >= "
            f"{self.standards.get('ess_min')}, divergences <= {self.standards.get('divergence_max'):.0%}, "
            f"BFMI >= {self.standards.get('bfmi_min')})",
            self.table.to_string(float_format=lambda v: f"{v:.4g}"),
            f"divergences: {self.divergences} ({self.divergence_fraction:.2%}); "
            f"BFMI per chain: {', '.join(f'{b:.2f}' for b in np.atleast_1d(self.bfmi))}",
        ]
        lines += [f"- {problem}" for problem in self.problems]
        return "\n".join(lines)


def convergence_report(
    idata: xr.DataTree,
    names: Sequence[str],
    *,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
    divergence_max: float = DIVERGENCE_FRACTION_MAX,
    bfmi_min: float = BFMI_MIN,
    warn: bool = True,
) -> DiagnosticsReport:
    """R-hat, bulk/tail ESS, divergences and E-BFMI of ``names`` against the standards
    (defaults :data:`RHAT_MAX`, :data:`ESS_MIN`, :data:`DIVERGENCE_FRACTION_MAX`,
    :data:`BFMI_MIN`). A vector parameter is represented by its worst element (largest
    R-hat, smallest ESS). When something fails and ``warn`` is true a ``UserWarning``
    says what failed and what to do about it.

    Examples
    --------
    Independent draws pass; two chains that disagree fail, and the report says why:

    >>> import numpy as np, xarray as xr
    >>> from sbp_bayes.diagnostics import convergence_report
    >>> rng = np.random.default_rng(0)
    >>> independent = xr.Dataset({"x": (("chain", "draw"), rng.normal(size=(4, 500)))})
    >>> good = xr.DataTree.from_dict({"posterior": independent})
    >>> bool(convergence_report(good, ["x"]))
    True
    >>> apart = rng.normal(size=(2, 500)) + np.array([[0.0], [3.0]])
    >>> bad = xr.DataTree.from_dict({"posterior": xr.Dataset({"x": (("chain", "draw"), apart)})})
    >>> report = convergence_report(bad, ["x"], warn=False)
    >>> report.passed, report.problems[0].startswith("R-hat above 1.01 for x")
    (False, True)
    """
    import arviz as az

    rows = []
    if names:
        # An element fixed by construction (e.g. a reference category at 0) has 0/0 for its
        # R-hat: NaN, skipped by nanmax/nanmin below, not a numpy warning.
        with np.errstate(invalid="ignore", divide="ignore"):
            rhat = az.rhat(idata, var_names=list(names))
            ess_bulk = az.ess(idata, var_names=list(names), method="bulk")
            ess_tail = az.ess(idata, var_names=list(names), method="tail")
        for name in names:
            rows.append(
                {
                    "parameter": name,
                    "r_hat": float(np.nanmax(np.asarray(rhat[name]))),
                    "ess_bulk": float(np.nanmin(np.asarray(ess_bulk[name]))),
                    "ess_tail": float(np.nanmin(np.asarray(ess_tail[name]))),
                }
            )
    table = pd.DataFrame(rows, columns=["parameter", "r_hat", "ess_bulk", "ess_tail"]).set_index("parameter")
    table["passed"] = (table.r_hat <= rhat_max) & (table.ess_bulk >= ess_min) & (table.ess_tail >= ess_min)
    # Exact (conjugate) draws have no sampler statistics: nothing can diverge.
    stats = idata["sample_stats"] if "sample_stats" in idata.children else xr.Dataset()
    posterior = idata["posterior"]
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    fraction = divergences / n_draws
    bfmi = np.asarray(az.bfmi(stats["energy"])) if "energy" in stats else np.array([np.nan])

    problems = []
    bad_rhat = table.index[table.r_hat > rhat_max].tolist()
    if bad_rhat:
        problems.append(
            f"R-hat above {rhat_max} for {', '.join(bad_rhat)}: chains disagree. Run longer "
            "(tune=2000, draws=2000) and look at the trace plot; a tail with few exceedances may "
            "need an informative prior on xi."
        )
    bad_ess = table.index[(table.ess_bulk < ess_min) | (table.ess_tail < ess_min)].tolist()
    if bad_ess:
        problems.append(
            f"Effective sample size below {ess_min} for {', '.join(bad_ess)}: increase draws "
            f"(currently {posterior.sizes['draw']} per chain) or chains."
        )
    if fraction > divergence_max:
        problems.append(
            f"{divergences} divergent transitions ({fraction:.1%} of draws): the posterior has regions "
            "NUTS cannot follow; check that the data have a tail on each modelled side, or fix the "
            "threshold, or tighten the prior on xi."
        )
    if np.any(np.asarray(bfmi) < bfmi_min):
        problems.append(
            f"E-BFMI below {bfmi_min} in some chain ({np.round(bfmi, 2).tolist()}): poor exploration "
            "of the energy; increase tune."
        )
    report = DiagnosticsReport(
        table,
        divergences,
        fraction,
        bfmi,
        problems,
        standards={
            "rhat_max": rhat_max,
            "ess_min": ess_min,
            "divergence_max": divergence_max,
            "bfmi_min": bfmi_min,
        },
    )
    if problems and warn:
        warnings.warn("Convergence diagnostics failed:\n" + "\n".join(problems), UserWarning, stacklevel=3)
    return report


def combine_reports(
    outer: DiagnosticsReport, inner: DiagnosticsReport, *, row_prefix: str, problem_prefix: str
) -> DiagnosticsReport:
    """One report of a fit made in two stages: ``inner``'s rows are named
    ``"{row_prefix}:{parameter}"`` and its problems start ``"{problem_prefix}: "``;
    divergences add up, the worse divergence fraction counts and the BFMI of every chain
    of both stages is kept.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sbp_bayes.diagnostics import DiagnosticsReport, combine_reports
    >>> row = pd.DataFrame({"r_hat": [1.0], "ess_bulk": [900.0], "ess_tail": [800.0], "passed": [True]},
    ...                    index=pd.Index(["xi"], name="parameter"))
    >>> both = combine_reports(DiagnosticsReport(row, 0, 0.0, np.array([1.0])),
    ...                        DiagnosticsReport(row, 2, 0.001, np.array([0.9]), ["slow"]),
    ...                        row_prefix="innovation", problem_prefix="innovations")
    >>> list(both.table.index), both.divergences, both.problems
    (['xi', 'innovation:xi'], 2, ['innovations: slow'])
    """
    table = pd.concat([outer.table, inner.table.rename(index=lambda name: f"{row_prefix}:{name}")])
    return DiagnosticsReport(
        table,
        outer.divergences + inner.divergences,
        max(outer.divergence_fraction, inner.divergence_fraction),
        np.concatenate([np.atleast_1d(outer.bfmi), np.atleast_1d(inner.bfmi)]),
        outer.problems + [f"{problem_prefix}: {problem}" for problem in inner.problems],
        outer.standards,
    )
