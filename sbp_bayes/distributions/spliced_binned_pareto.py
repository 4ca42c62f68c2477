"""The PyMC distribution class ``SplicedBinnedPareto``.

A thin wrapper: the maths lives in :mod:`sbp_bayes.distributions.splice`; this
module adds the random-variable op (inverse-CDF draws built from PyTensor ops,
so draws work under every backend without SciPy), parameter checks and the
``support_point``.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pymc.distributions.dist_math import check_icdf_parameters, check_icdf_value, check_parameters
from pymc.distributions.distribution import Continuous, SymbolicRandomVariable
from pymc.distributions.shape_utils import implicit_size_from_params, rv_size_is_none
from pymc.pytensorf import floatX, normalize_rng_param
from pytensor.graph.basic import Constant, Variable
from pytensor.tensor.random.utils import normalize_size_param

from sbp_bayes.distributions.splice import (
    spliced_icdf,
    spliced_logccdf,
    spliced_logcdf,
    spliced_logpdf,
)
from sbp_bayes.distributions.validation import probability_sum_tolerance, validate_parameters

__all__ = ["PARAMETER_NAMES", "SplicedBinnedPareto", "SplicedBinnedParetoRV"]

PARAMETER_NAMES = (
    "bin_edges",
    "bin_probs",
    "lower_tail_prob",
    "upper_tail_prob",
    "lower_xi",
    "lower_sigma",
    "upper_xi",
    "upper_sigma",
)


class SplicedBinnedParetoRV(SymbolicRandomVariable):
    """Draws by inversion: ``x = Q(u)`` with ``u ~ Uniform(0, 1)``."""

    name = "spliced_binned_pareto"
    extended_signature = "[rng],[size],(e),(b),(),(),(),(),(),()->[rng],()"
    _print_name = ("SplicedBinnedPareto", "\\operatorname{SBP}")

    @classmethod
    def rv_op(
        cls,
        bin_edges,
        bin_probs,
        lower_tail_prob,
        upper_tail_prob,
        lower_xi,
        lower_sigma,
        upper_xi,
        upper_sigma,
        *,
        size=None,
        rng=None,
    ):
        params = [
            pt.as_tensor(p)
            for p in (
                bin_edges,
                bin_probs,
                lower_tail_prob,
                upper_tail_prob,
                lower_xi,
                lower_sigma,
                upper_xi,
                upper_sigma,
            )
        ]
        rng = normalize_rng_param(rng)
        size = normalize_size_param(size)
        if rv_size_is_none(size):
            size = implicit_size_from_params(*params, ndims_params=cls.ndims_params)
        next_rng, uniform = pt.random.uniform(size=size, rng=rng, return_next_rng=True)
        draws = spliced_icdf(uniform, *params)
        return cls(inputs=[rng, size, *params], outputs=[next_rng, draws])(rng, size, *params)


def _parameter_conditions(edges, probs, lower_tail_prob, upper_tail_prob, lower_sigma, upper_sigma):
    tolerance = probability_sum_tolerance(probs.dtype)
    return (
        pt.eq(edges.shape[-1], probs.shape[-1] + 1),
        pt.all(pt.gt(pt.diff(edges, axis=-1), 0)),
        pt.all(pt.ge(probs, 0)),
        pt.all(pt.le(pt.abs(pt.sum(probs, axis=-1) - 1.0), tolerance)),
        pt.all(pt.gt(lower_tail_prob, 0)),
        pt.all(pt.gt(upper_tail_prob, 0)),
        pt.all(pt.lt(lower_tail_prob + upper_tail_prob, 1)),
        pt.all(pt.gt(lower_sigma, 0)),
        pt.all(pt.gt(upper_sigma, 0)),
    )


_CONDITIONS_MSG = (
    "len(bin_edges) == len(bin_probs) + 1, bin_edges increasing, bin_probs >= 0 summing to 1, "
    "lower_tail_prob > 0, upper_tail_prob > 0, lower_tail_prob + upper_tail_prob < 1, "
    "lower_sigma > 0, upper_sigma > 0"
)


def _concrete_value(param):
    """The numeric value of a parameter given as a number, array or constant; else None."""
    if isinstance(param, Constant):
        return param.data
    if isinstance(param, Variable):
        return None
    return param


class SplicedBinnedPareto(Continuous):
    r"""Spliced Binned-Pareto distribution (Ehrlich, Callot & Aubet, 2021).

    A histogram body with Generalized Pareto tails on both sides:

    .. math::

        f(x) = \begin{cases}
            a_L\, g(u_L - x;\ \xi_L, \sigma_L) & x < u_L \\
            \pi_k / (e_k - e_{k-1})            & u_L \le x \le u_U,\ x \text{ in bin } k \\
            a_U\, g(x - u_U;\ \xi_U, \sigma_U) & x > u_U
        \end{cases}

    with thresholds :math:`u_L = Q_B(a_L)` and :math:`u_U = Q_B(1 - a_U)`, the
    quantiles of the binned body, and :math:`g` the GPD density of the excess.
    The body carries exactly :math:`1 - a_L - a_U` between the thresholds, so the
    density is proper for every valid parameter.

    ========  ===========================================================
    Support   :math:`x \in \mathbb{R}`, bounded on a side where :math:`\xi < 0`
    Mean      finite iff :math:`\xi_L < 1` and :math:`\xi_U < 1`
    Variance  finite iff :math:`\xi_L < 1/2` and :math:`\xi_U < 1/2`
    ========  ===========================================================

    Parameters
    ----------
    bin_edges : tensor_like of float, shape ``(..., K + 1)``
        Strictly increasing bin edges :math:`e_0 < \dots < e_K`.
    bin_probs : tensor_like of float, shape ``(..., K)``
        Bin probabilities :math:`\pi_k \ge 0`, summing to one.
    lower_tail_prob, upper_tail_prob : tensor_like of float
        Tail masses :math:`a_L, a_U > 0` with :math:`a_L + a_U < 1`.
    lower_xi, upper_xi : tensor_like of float
        GPD shapes, any real: :math:`\xi > 0` heavy (Pareto) tail, :math:`\xi = 0`
        exponential, :math:`\xi < 0` bounded at :math:`u \mp \sigma / |\xi|`.
    lower_sigma, upper_sigma : tensor_like of float
        GPD scales at the thresholds, in the units of the data (:math:`> 0`).

    Notes
    -----
    All parameters broadcast over leading (batch) dimensions, so one distribution per
    time step or series is one call. Concrete (numpy) parameters are validated when the
    distribution is created (:class:`~sbp_bayes.distributions.validation.InvalidParameterError`
    names the offending parameter); symbolic ones follow PyMC's convention
    (``-inf`` log-density, ``ParameterValueError`` when evaluated directly).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> from sbp_bayes import SplicedBinnedPareto
    >>> params = dict(
    ...     bin_edges=np.linspace(-3, 3, 13), bin_probs=np.full(12, 1 / 12),
    ...     lower_tail_prob=0.05, upper_tail_prob=0.05,
    ...     lower_xi=0.2, lower_sigma=0.5, upper_xi=0.4, upper_sigma=0.5,
    ... )
    >>> x = SplicedBinnedPareto.dist(**params)
    >>> round(float(pm.logp(x, 0.0).eval()), 4)  # log(1/12 / 0.5)
    -1.7918
    >>> round(float(pm.icdf(x, 0.5).eval()), 12)  # the median
    0.0
    """

    rv_type = SplicedBinnedParetoRV
    rv_op = SplicedBinnedParetoRV.rv_op

    @classmethod
    def dist(
        cls,
        bin_edges,
        bin_probs,
        lower_tail_prob,
        upper_tail_prob,
        lower_xi,
        lower_sigma,
        upper_xi,
        upper_sigma,
        **kwargs,
    ):
        given = dict(
            zip(
                PARAMETER_NAMES,
                (
                    bin_edges,
                    bin_probs,
                    lower_tail_prob,
                    upper_tail_prob,
                    lower_xi,
                    lower_sigma,
                    upper_xi,
                    upper_sigma,
                ),
                strict=True,
            )
        )
        concrete = {name: _concrete_value(value) for name, value in given.items()}
        validate_parameters(concrete)
        if concrete["bin_probs"] is not None:
            # Validated at the precision they came in, but the graph checks the sum at floatX
            # precision (float32 probabilities fail float64's tolerance): renormalise in floatX.
            probs = np.asarray(floatX(concrete["bin_probs"]))
            given["bin_probs"] = probs / probs.sum(axis=-1, keepdims=True)
        params = [pt.as_tensor_variable(floatX(value)) for value in given.values()]
        return super().dist(params, **kwargs)

    def support_point(rv, size, *params):
        median = spliced_icdf(np.asarray(0.5, dtype=rv.dtype), *params)
        if not rv_size_is_none(size):
            median = pt.full(size, median)
        return median

    def logp(value, *params):
        edges, probs, a_lower, a_upper, _, sigma_lower, _, sigma_upper = params
        return check_parameters(
            spliced_logpdf(value, *params),
            *_parameter_conditions(edges, probs, a_lower, a_upper, sigma_lower, sigma_upper),
            msg=_CONDITIONS_MSG,
        )

    def logcdf(value, *params):
        edges, probs, a_lower, a_upper, _, sigma_lower, _, sigma_upper = params
        return check_parameters(
            spliced_logcdf(value, *params),
            *_parameter_conditions(edges, probs, a_lower, a_upper, sigma_lower, sigma_upper),
            msg=_CONDITIONS_MSG,
        )

    def logccdf(value, *params):
        edges, probs, a_lower, a_upper, _, sigma_lower, _, sigma_upper = params
        return check_parameters(
            spliced_logccdf(value, *params),
            *_parameter_conditions(edges, probs, a_lower, a_upper, sigma_lower, sigma_upper),
            msg=_CONDITIONS_MSG,
        )

    def icdf(value, *params):
        edges, probs, a_lower, a_upper, _, sigma_lower, _, sigma_upper = params
        result = check_icdf_value(spliced_icdf(value, *params), value)
        return check_icdf_parameters(
            result,
            *_parameter_conditions(edges, probs, a_lower, a_upper, sigma_lower, sigma_upper),
            msg=_CONDITIONS_MSG,
        )
