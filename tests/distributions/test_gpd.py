"""Generalized Pareto pieces (PyTensor and numpy) against independent references.

References: ``scipy.stats.genpareto`` (its log-density, log-survival and inverse
survival are written with ``xlog1py`` / ``log1p`` / ``boxcox`` and are accurate for
tiny shapes), the exact exponential limit at ``xi = 0``, and closed-form derivatives
of the series in ``xi`` at ``xi = 0``.
"""

from __future__ import annotations

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from sbp_bayes import stats as np_gpd
from sbp_bayes.distributions import gpd

XIS = [-0.75, -0.2, -1e-6, -1e-9, 0.0, 1e-12, 1e-9, 1e-6, 0.3, 1.5]
SIGMAS = [0.01, 1.0, 7.5]


def _compile_gpd(dtype="float64"):
    z, xi, sigma = pt.vector("z", dtype=dtype), pt.scalar("xi", dtype=dtype), pt.scalar("sigma", dtype=dtype)
    survival = pt.vector("survival", dtype=dtype)
    outputs = [
        gpd.gpd_logpdf(z, xi, sigma),
        gpd.gpd_logsf(z, xi, sigma),
        gpd.gpd_excess_from_survival(survival, xi, sigma),
    ]
    return pytensor.function([z, survival, xi, sigma], outputs)


@pytest.fixture(scope="module")
def pytensor_gpd():
    function = _compile_gpd()

    def evaluate(z, survival, xi, sigma):
        return function(np.asarray(z, float), np.asarray(survival, float), xi, sigma)

    return evaluate


def numpy_gpd(z, survival, xi, sigma):
    return (
        np_gpd.gpd_logpdf(z, xi, sigma),
        np_gpd.gpd_logsf(z, xi, sigma),
        np_gpd.gpd_excess_from_survival(survival, xi, sigma),
    )


@pytest.fixture(params=["pytensor", "numpy"])
def gpd_impl(request, pytensor_gpd):
    return pytensor_gpd if request.param == "pytensor" else numpy_gpd


def _excess_grid(xi, sigma):
    """Excesses inside the support, from tiny to deep in the tail (or near the endpoint)."""
    t = np.array([0.0, 1e-10, 1e-3, 0.1, 0.5, 1.0, 2.5, 10.0, 100.0, 1e4, 1e8])
    if xi < 0:
        end = -1.0 / xi
        t = t[t < end]
        # Not closer to the endpoint: there log1p(xi t) is ill-conditioned (one ulp of
        # xi t moves logpdf by ulp / (1 + xi t) / |xi|), so no two codes agree there.
        t = np.concatenate([t, end * np.array([0.5, 0.9, 0.999])])
    return sigma * t


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("xi", XIS)
def test_matches_scipy_genpareto(gpd_impl, xi, sigma):
    z = _excess_grid(xi, sigma)
    survival = np.array([1.0, 1 - 1e-12, 0.9, 0.5, 0.1, 1e-3, 1e-8, 1e-30, 1e-300])
    reference = stats.genpareto(xi, scale=sigma)
    logpdf, logsf, excess = gpd_impl(z, survival, xi, sigma)

    assert_allclose(logpdf, reference.logpdf(z), rtol=1e-12, atol=1e-12)
    assert_allclose(logsf, reference.logsf(z), rtol=1e-12, atol=1e-300)
    finite = np.isfinite(reference.isf(survival))
    assert_allclose(excess[finite], reference.isf(survival)[finite], rtol=1e-11, atol=0)
    # Where the true excess overflows (heavy tail, survival 1e-300) it is +inf, never nan.
    assert np.all(np.isposinf(excess[~finite]))


@pytest.mark.parametrize("xi", [-0.75, -0.2, -1e-6, 0.0, 0.3])
def test_outside_support(gpd_impl, xi):
    sigma = 2.0
    outside = [-1.0, -1e-12, -np.inf]
    if xi < 0:
        end = -sigma / xi
        outside += [end * (1 + 1e-9), end + 1.0, 1e300, np.inf]
    else:
        outside += [np.inf]
    logpdf, logsf, _ = gpd_impl(outside, [], xi, sigma)
    assert np.all(logpdf == -np.inf)
    below = np.asarray(outside) <= 0
    assert np.all(logsf[below] == 0.0)
    assert np.all(logsf[~below] == -np.inf)


@pytest.mark.parametrize(
    ("xi", "sigma", "expected_endpoint"),
    [(-0.5, 2.0, 4.0), (-0.25, 1.0, 4.0), (0.0, 1.0, np.inf), (1e-9, 1.0, np.inf), (0.7, 3.0, np.inf)],
)
def test_zero_survival_gives_endpoint(gpd_impl, xi, sigma, expected_endpoint):
    _, _, excess = gpd_impl([], [0.0, 1.0], xi, sigma)
    assert excess[0] == pytest.approx(expected_endpoint, rel=1e-15)
    assert excess[1] == 0.0


class TestNearZeroShape:
    """The authors' published (gluonts) code's ``1/(xi + 1e-6)`` is wrong near ``xi = 0``."""

    def test_xi_1e6_logpdf_at_one(self, gpd_impl):
        logpdf, logsf, _ = gpd_impl([1.0], [], 1e-6, 1.0)
        # -(1 + 1/xi) log1p(xi): -1 - xi/2 + O(xi^2), nowhere near the -0.5 of the bug.
        exact = -(1 + 1e6) * math.log1p(1e-6)
        assert logpdf[0] == pytest.approx(exact, rel=1e-13)
        assert logpdf[0] == pytest.approx(-1.0, abs=1e-6)
        assert logsf[0] == pytest.approx(-1e6 * math.log1p(1e-6), rel=1e-13)

    @pytest.mark.parametrize("xi", [1e-9, -1e-9])
    def test_xi_1e9_small_scale_matches_exponential_limit(self, gpd_impl, xi):
        sigma, x = 0.01, np.array([0.25, 1.0, 3.0])
        t = x / sigma
        logpdf, logsf, _ = gpd_impl(x, [], xi, sigma)
        exponential = -math.log(sigma) - t  # -95.4 at x = 1 (the bug gives +4.5)
        # The first-order correction in xi is xi (t^2/2 - t) (logpdf) and xi t^2/2 (logsf).
        assert_allclose(logpdf, exponential + xi * (t**2 / 2 - t), rtol=0, atol=1e-9)
        assert_allclose(logsf, -t + xi * t**2 / 2, rtol=0, atol=1e-9)
        assert logpdf[1] == pytest.approx(-95.4, abs=0.01)

    @pytest.mark.parametrize("xi", [1e-6, -1e-6, 1e-9, 1e-12, 0.0])
    def test_isf_exponential_limit(self, gpd_impl, xi):
        survival = np.array([0.5, 1e-3, 1e-12])
        m = -np.log(survival)
        _, _, excess = gpd_impl([], survival, xi, 0.7)
        # sigma (s^-xi - 1)/xi = sigma m (1 + u/2 + u^2/6 + O(u^3)), u = xi m
        u = xi * m
        assert_allclose(excess, 0.7 * m * (1 + u / 2 + u**2 / 6), rtol=1e-13)


def _compile_gradients(dtype="float64"):
    z, xi, sigma = pt.scalar("z", dtype=dtype), pt.scalar("xi", dtype=dtype), pt.scalar("sigma", dtype=dtype)
    survival = pt.scalar("survival", dtype=dtype)
    pieces = [
        gpd.gpd_logpdf(z, xi, sigma),
        gpd.gpd_logsf(z, xi, sigma),
        gpd.gpd_excess_from_survival(survival, xi, sigma),
    ]
    outputs = []
    for piece in pieces:
        outputs += [piece, *pytensor.grad(piece, [xi, sigma])]
    return pytensor.function([z, survival, xi, sigma], outputs)


@pytest.fixture(scope="module")
def gpd_gradients():
    function = _compile_gradients()

    def evaluate(z, survival, xi, sigma):
        out = function(z, survival, xi, sigma)
        return {
            "logpdf": np.array(out[0:3]),
            "logsf": np.array(out[3:6]),
            "isf": np.array(out[6:9]),
        }

    return evaluate


class TestGradientsThroughZero:
    """Value and gradient continuous through ``xi = 0`` (PyTensor pieces)."""

    @pytest.mark.parametrize("t", [0.3, 1.0, 4.0, 20.0])
    def test_derivatives_at_zero_are_the_series_coefficients(self, gpd_gradients, t):
        sigma = 1.7
        survival = math.exp(-t)
        at_zero = gpd_gradients(sigma * t, survival, 0.0, sigma)
        # d/dxi at 0: logpdf t^2/2 - t, logsf t^2/2, isf sigma m^2/2 (m = t here).
        assert at_zero["logpdf"][1] == pytest.approx(t**2 / 2 - t, rel=1e-12, abs=1e-12)
        assert at_zero["logsf"][1] == pytest.approx(t**2 / 2, rel=1e-12)
        assert at_zero["isf"][1] == pytest.approx(sigma * t**2 / 2, rel=1e-12)
        # d/dsigma at 0: logpdf (t - 1)/sigma, logsf t/sigma, isf m.
        assert at_zero["logpdf"][2] == pytest.approx((t - 1) / sigma, rel=1e-12, abs=1e-12)
        assert at_zero["logsf"][2] == pytest.approx(t / sigma, rel=1e-12)
        assert at_zero["isf"][2] == pytest.approx(t, rel=1e-12)

    @pytest.mark.parametrize("xi", [1e-12, -1e-12, 1e-7, -1e-7, 1e-4, -1e-4])
    @pytest.mark.parametrize("t", [0.3, 1.0, 4.0])
    def test_continuous_through_zero(self, gpd_gradients, xi, t):
        sigma = 1.7
        survival = math.exp(-t)
        at_zero = gpd_gradients(sigma * t, survival, 0.0, sigma)
        near = gpd_gradients(sigma * t, survival, xi, sigma)
        # Second derivatives in xi at 0 are O(t^3) (logpdf: t^2 - 2t^3/3, logsf: -2t^3/3,
        # isf: sigma m^3/3): value = first-order Taylor + O(xi^2 t^3), gradient = O(xi t^3).
        scale = (1 + t) ** 3 * (1 + sigma)
        for piece in ("logpdf", "logsf", "isf"):
            value0, dxi0, dsigma0 = at_zero[piece]
            value, dxi, dsigma = near[piece]
            assert np.isfinite([value, dxi, dsigma]).all()
            assert abs(value - (value0 + xi * dxi0)) <= xi**2 * scale + 1e-13 * (1 + abs(value0)), piece
            assert abs(dxi - dxi0) <= 2 * abs(xi) * scale + 1e-9, piece
            assert abs(dsigma - dsigma0) <= 2 * abs(xi) * scale + 1e-12, piece

    @pytest.mark.parametrize("t", [0.5, 3.0])
    def test_no_jump_at_series_cutoff(self, gpd_gradients, t):
        """The series and the closed form must agree where one hands over to the other."""
        sigma = 1.0
        cutoff = float(np.finfo("float64").eps) ** 0.2  # |xi * t| where the series stops
        for sign in (1, -1):
            inside = gpd_gradients(sigma * t, math.exp(-t), sign * cutoff * (1 - 1e-6) / t, sigma)
            outside = gpd_gradients(sigma * t, math.exp(-t), sign * cutoff * (1 + 1e-6) / t, sigma)
            for piece in ("logpdf", "logsf", "isf"):
                # The exact change over a step of 2e-6 * cutoff / t in xi is below 1e-8 here.
                assert_allclose(inside[piece], outside[piece], rtol=1e-8, atol=1e-10, err_msg=piece)

    def test_finite_differences(self, gpd_gradients):
        sigma, h = 1.3, 1e-6
        for xi in (-0.4, -1e-8, 0.0, 1e-8, 0.6):
            for t in (0.2, 1.5):
                z, survival = sigma * t, math.exp(-t)
                got = gpd_gradients(z, survival, xi, sigma)
                up_xi, down_xi = (
                    gpd_gradients(z, survival, xi + h, sigma),
                    gpd_gradients(z, survival, xi - h, sigma),
                )
                up_s, down_s = (
                    gpd_gradients(z, survival, xi, sigma + h),
                    gpd_gradients(z, survival, xi, sigma - h),
                )
                for piece in ("logpdf", "logsf", "isf"):
                    fd_xi = (up_xi[piece][0] - down_xi[piece][0]) / (2 * h)
                    fd_sigma = (up_s[piece][0] - down_s[piece][0]) / (2 * h)
                    assert got[piece][1] == pytest.approx(fd_xi, rel=1e-6, abs=1e-8), (piece, xi, t)
                    assert got[piece][2] == pytest.approx(fd_sigma, rel=1e-6, abs=1e-8), (piece, xi, t)


def test_float32_near_zero_shape():
    """The series cut-off depends on the dtype: float32 keeps float32 accuracy near 0."""
    with pytensor.config.change_flags(floatX="float32"):
        function = _compile_gpd("float32")
        z = np.array([0.1, 1.0, 5.0], dtype="float32")
        survival = np.array([0.5, 1e-3, 1e-20], dtype="float32")
        for xi in (0.0, 1e-6, -1e-6, 1e-3, -0.02, 0.05):
            logpdf, logsf, excess = function(z, survival, np.float32(xi), np.float32(1.5))
            assert logpdf.dtype == logsf.dtype == excess.dtype == np.float32
            reference = stats.genpareto(xi, scale=1.5)
            assert_allclose(logpdf, reference.logpdf(z.astype(float)), rtol=2e-6, atol=2e-6)
            assert_allclose(logsf, reference.logsf(z.astype(float)), rtol=2e-6, atol=2e-6)
            assert_allclose(excess, reference.isf(survival.astype(float)), rtol=2e-6)
