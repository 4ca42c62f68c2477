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
import pymc as pm

__all__ = ["Prior", "PriorError"]


class PriorError(ValueError):
    """A prior specification cannot be turned into a PyMC distribution."""


@dataclass(frozen=True)
class Prior:
    """A prior: the name of a PyMC distribution and its keyword parameters."""

    distribution: str
    parameters: dict = field(default_factory=dict)

    def __init__(self, distribution: str, **parameters):
        if not isinstance(distribution, str) or not hasattr(pm, distribution):
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
        try:
            return getattr(pm, self.distribution).dist(**self.parameters, **kwargs)
        except TypeError as error:
            raise PriorError(f"Cannot build prior {self!r}: {error}") from None

    def create(self, name: str, *, parameters_as_data: bool = False, **kwargs):
        """A named random variable in the current model.

        With ``parameters_as_data`` the numeric parameters become ``pm.Data`` named
        ``{name}_prior_{parameter}``, so a compiled model can be reused with other values.
        """
        parameters = self.data_parameters(name) if parameters_as_data else self.parameters
        try:
            return getattr(pm, self.distribution)(name, **parameters, **kwargs)
        except TypeError as error:
            raise PriorError(f"Cannot build prior {self!r} for {name!r}: {error}") from None

    def data_parameters(self, name: str) -> dict:
        """Parameters with every number wrapped in ``pm.Data`` (inside a model context)."""
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
        function = _scipy_log_density(self.distribution, parameters)
        if function is None:
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
    """The log density of the common prior families with scipy (no graph to compile);
    ``None`` for the others. Checked against PyMC's ``logp`` in tests/test_threshold_selection.py."""
    from scipy import stats as scipy_stats

    p = parameters
    try:
        if distribution == "Normal":
            return scipy_stats.norm(p.get("mu", 0.0), p.get("sigma", 1.0)).logpdf
        if distribution == "LogNormal":
            return scipy_stats.lognorm(p.get("sigma", 1.0), scale=np.exp(p.get("mu", 0.0))).logpdf
        if distribution == "HalfNormal":
            return scipy_stats.halfnorm(scale=p.get("sigma", 1.0)).logpdf
        if distribution == "TruncatedNormal" and set(p) <= {"mu", "sigma", "lower", "upper"}:
            mu, sigma = p.get("mu", 0.0), p.get("sigma", 1.0)
            lower, upper = p.get("lower", -np.inf), p.get("upper", np.inf)
            return scipy_stats.truncnorm((lower - mu) / sigma, (upper - mu) / sigma, mu, sigma).logpdf
    except TypeError:  # e.g. a parameter given as a list where a number is needed
        return None
    return None
