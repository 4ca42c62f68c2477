"""Prior objects: a PyMC distribution name plus its parameters, serialisable to TOML/JSON.

Examples
--------
>>> prior = Prior("Normal", mu=0.0, sigma=0.5)
>>> prior
Prior('Normal', mu=0.0, sigma=0.5)
>>> Prior.from_config({"dist": "LogNormal", "mu": 1.0, "sigma": 1.0}).to_config()
{'dist': 'LogNormal', 'mu': 1.0, 'sigma': 1.0}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["COMMON_DISTRIBUTIONS", "SCIPY_PARAMETERS", "Prior", "PriorError"]


class PriorError(ValueError):
    """A prior specification cannot be turned into a PyMC distribution."""


#: PyMC distributions that priors commonly name (every default prior among them). Checked
#: against PyMC by the tests; a name outside this set is looked up in PyMC itself. The set
#: lets a spec and the default quadrature fit build their priors without importing PyMC
#: and PyTensor (about half a second of a fresh process), which they never use.
COMMON_DISTRIBUTIONS = frozenset(
    {
        "Beta", "Cauchy", "Dirichlet", "Exponential", "Gamma", "HalfCauchy", "HalfNormal",
        "HalfStudentT", "InverseGamma", "Laplace", "LogNormal", "Normal", "StudentT",
        "TruncatedNormal", "Uniform", "Weibull",
    }
)  # fmt: skip


#: The prior families that :meth:`Prior.log_density_function` evaluates with scipy, and
#: the parameters it knows for each (PyMC's names). A prior of one of these families named
#: by these parameters only is evaluated, and checked (:meth:`Prior.parameter_problem`),
#: without PyMC; any other prior goes through PyMC's own ``logp``.
SCIPY_PARAMETERS = {
    "Normal": ("mu", "sigma"),
    "LogNormal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "TruncatedNormal": ("mu", "sigma", "lower", "upper"),
}


def _is_pymc_distribution(name: str) -> bool:
    """Whether ``pymc.<name>`` exists (PyMC imported only for a name outside the common set)."""
    if name in COMMON_DISTRIBUTIONS:
        return True
    import pymc as pm

    return hasattr(pm, name)


@dataclass(frozen=True)
class Prior:
    """A prior: the name of a PyMC distribution and its keyword parameters."""

    distribution: str
    parameters: dict = field(default_factory=dict)

    def __init__(self, distribution: str, **parameters):
        if not isinstance(distribution, str) or not _is_pymc_distribution(distribution):
            raise PriorError(
                f"Unknown prior distribution {distribution!r}: use the name of a PyMC distribution "
                "such as 'Normal', 'LogNormal', 'HalfNormal', 'StudentT', 'Uniform' or 'TruncatedNormal'."
            )
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "parameters", {k: _plain(v) for k, v in parameters.items()})

    @classmethod
    def from_config(cls, config: Prior | Mapping) -> Prior:
        """Build from ``{"dist": name, **parameters}`` (as written in a model spec)."""
        if isinstance(config, Prior):
            return config
        if not isinstance(config, Mapping) or "dist" not in config:
            raise PriorError(
                f"A prior must be a Prior or a table with a 'dist' key and its parameters; got {config!r}."
            )
        parameters = {k: v for k, v in config.items() if k != "dist"}
        return cls(config["dist"], **parameters)

    def to_config(self) -> dict:
        """The inverse of :meth:`from_config`."""
        return {"dist": self.distribution, **self.parameters}

    def dist(self, **kwargs):
        """An unnamed PyMC distribution (``pm.<Name>.dist``)."""
        import pymc as pm

        try:
            return getattr(pm, self.distribution).dist(**self.parameters, **kwargs)
        except TypeError as error:
            raise PriorError(f"Cannot build prior {self!r}: {error}") from None

    def create(self, name: str, *, parameters_as_data: bool = False, **kwargs):
        """A named random variable in the current model.

        With ``parameters_as_data`` the numeric parameters become ``pm.Data`` named
        ``{name}_prior_{parameter}``, so a compiled model can be reused with other values.
        """
        import pymc as pm

        parameters = self.data_parameters(name) if parameters_as_data else self.parameters
        try:
            return getattr(pm, self.distribution)(name, **parameters, **kwargs)
        except TypeError as error:
            raise PriorError(f"Cannot build prior {self!r} for {name!r}: {error}") from None

    def data_parameters(self, name: str) -> dict:
        """Parameters with every number wrapped in ``pm.Data`` (inside a model context)."""
        import pymc as pm

        return {
            key: pm.Data(f"{name}_prior_{key}", np.asarray(value, dtype=float))
            if isinstance(value, (int, float, list)) and not isinstance(value, bool)
            else value
            for key, value in self.parameters.items()
        }

    @property
    def bounds(self) -> tuple[float, float]:
        """Support bounds read from ``lower``/``upper`` parameters (``-inf``/``inf`` if absent)."""
        lower = self.parameters.get("lower", -np.inf)
        upper = self.parameters.get("upper", np.inf)
        return float(lower), float(upper)

    @property
    def evaluated_by_scipy(self) -> bool:
        """Whether the prior's family and parameter names are in :data:`SCIPY_PARAMETERS`.

        Examples
        --------
        >>> Prior("Normal", mu=0.0, sigma=0.5).evaluated_by_scipy
        True
        >>> Prior("Normal", mu=0.0, tau=4.0).evaluated_by_scipy  # PyMC evaluates tau
        False
        """
        return set(self.parameters) <= set(SCIPY_PARAMETERS.get(self.distribution, ()))

    def parameter_problem(self) -> str | None:
        """What is wrong with the parameter values of a prior :attr:`evaluated_by_scipy`
        (``None`` when nothing is): the same values PyMC refuses, without importing PyMC.

        Examples
        --------
        >>> Prior("LogNormal", mu=0.0, sigma=-1.0).parameter_problem()
        'sigma must be positive, got -1.0'
        >>> Prior("TruncatedNormal", mu=0.0, sigma=1.0, lower=1.0, upper=-1.0).parameter_problem()
        'lower must be below upper, got lower 1.0 and upper -1.0'
        >>> Prior("Normal", mu=0.0, sigma=0.5).parameter_problem() is None
        True
        """
        if not self.evaluated_by_scipy:
            raise ValueError(f"{self!r} is checked by PyMC, not here")
        values = {key: np.asarray(value, dtype=float) for key, value in self.parameters.items()}
        for key, value in values.items():
            finite_needed = key not in ("lower", "upper")  # truncation bounds may be infinite
            if np.any(np.isnan(value)) or (finite_needed and not np.all(np.isfinite(value))):
                return f"{key} must be a finite number, got {_plain(self.parameters[key])!r}"
        if "sigma" in values and not np.all(values["sigma"] > 0):
            return f"sigma must be positive, got {_plain(self.parameters['sigma'])!r}"
        lower, upper = values.get("lower", -np.inf), values.get("upper", np.inf)
        if not np.all(lower < upper):
            given = {key: _plain(self.parameters.get(key)) for key in ("lower", "upper")}
            return f"lower must be below upper, got lower {given['lower']!r} and upper {given['upper']!r}"
        return None

    def log_density_function(self, element: int | None = None):
        """The prior's log density as a vectorised numpy callable (for quadrature and plots).

        ``element`` picks one entry of list-valued parameters (a per-candidate prior).
        Normal, LogNormal, HalfNormal and TruncatedNormal use scipy; any other PyMC
        distribution goes through PyMC's own ``logp``, compiled with the pure-Python linker
        (no C or numba compilation). ``-inf`` outside the support.

        Examples
        --------
        >>> f = Prior("Normal", mu=0.0, sigma=1.0).log_density_function()
        >>> round(float(f(np.array([0.0]))[0]), 4)
        -0.9189
        """
        parameters = {
            key: (value[element] if isinstance(value, list) and element is not None else value)
            for key, value in self.parameters.items()
        }
        function = _scipy_log_density(self.distribution, parameters) if self.evaluated_by_scipy else None
        if function is None:
            import pymc as pm
            import pytensor
            import pytensor.tensor as pt
            from pytensor.compile.mode import Mode

            value = pt.dvector("value")
            dist = getattr(pm, self.distribution).dist(**parameters)
            compiled = pytensor.function(
                [value], pm.logp(dist, value), mode=Mode(linker="py", optimizer="fast_compile")
            )

            def function(values):
                return compiled(values.ravel()).reshape(values.shape)

        def log_density(values):
            values = np.asarray(values, dtype=float)
            with np.errstate(all="ignore"):
                out = np.asarray(function(values), dtype=float)
            return np.where(np.isnan(out), -np.inf, out)

        return log_density

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"Prior({self.distribution!r}{', ' if args else ''}{args})"


def _plain(value):
    """Numbers as Python floats/lists so that priors serialise cleanly."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _scipy_log_density(distribution: str, parameters: dict):
    """The log density of a prior :attr:`Prior.evaluated_by_scipy` (a family of
    :data:`SCIPY_PARAMETERS` named by those parameters only; e.g. ``Normal(tau=...)`` is
    not, and PyMC evaluates it) with scipy, no graph to compile; ``None`` when a parameter
    cannot be used as given. Checked against PyMC's ``logp`` in tests/test_threshold_selection.py."""
    from scipy import stats as scipy_stats

    p = parameters
    try:
        if distribution == "Normal":
            return scipy_stats.norm(p.get("mu", 0.0), p.get("sigma", 1.0)).logpdf
        if distribution == "LogNormal":
            return scipy_stats.lognorm(p.get("sigma", 1.0), scale=np.exp(p.get("mu", 0.0))).logpdf
        if distribution == "HalfNormal":
            return scipy_stats.halfnorm(scale=p.get("sigma", 1.0)).logpdf
        if distribution == "TruncatedNormal":
            mu, sigma = p.get("mu", 0.0), p.get("sigma", 1.0)
            lower, upper = p.get("lower", -np.inf), p.get("upper", np.inf)
            return scipy_stats.truncnorm((lower - mu) / sigma, (upper - mu) / sigma, mu, sigma).logpdf
    except TypeError:  # e.g. a parameter given as a list where a number is needed
        return None
    return None
