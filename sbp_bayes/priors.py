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

    def structure(self) -> tuple:
        """What the compiled graph depends on: the family, parameter names, finite bounds."""
        lower, upper = self.bounds
        return (
            self.distribution,
            tuple(sorted(self.parameters)),
            bool(np.isfinite(lower)),
            bool(np.isfinite(upper)),
        )

    @property
    def bounds(self) -> tuple[float, float]:
        """Support bounds read from ``lower``/``upper`` parameters (``-inf``/``inf`` if absent)."""
        lower = self.parameters.get("lower", -np.inf)
        upper = self.parameters.get("upper", np.inf)
        return float(lower), float(upper)

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
