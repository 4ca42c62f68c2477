"""Observations per year from the dates (sbp_bayes.dates) and return periods in years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sbp_bayes
from sbp_bayes import dates


def test_complete_daily_record_gives_the_julian_year():
    days = pd.date_range("1990-03-01", periods=4000, freq="D")
    rate = dates.record_rate(pd.Series(np.zeros(days.size), index=days))
    assert rate.observations_per_year == pytest.approx(365.25)
    assert rate.span_years == pytest.approx(4000 / 365.25)
    assert rate.step_days == 1.0


def test_gaps_count_in_the_span():
    days = pd.date_range("2000-01-01", periods=3 * 365, freq="D")
    holed = days.delete(slice(365, 730))  # the middle year missing
    rate = dates.record_rate(holed)
    assert rate.n_observations == 730
    assert rate.observations_per_year == pytest.approx(730 / (3 * 365 / 365.25))
    assert "gaps included" in rate.describe()


def test_hourly_and_monthly_records():
    hours = pd.date_range("2020-01-01", periods=24 * 100, freq="h", tz="Europe/Paris")
    assert dates.record_rate(hours).observations_per_year == pytest.approx(24 * 365.25)
    months = pd.date_range("2000-01-01", periods=240, freq="MS")
    # Median month 31 days: 240 / ((7274 + 31) / 365.25) -- within 0.1 of 12.
    assert dates.record_rate(months).observations_per_year == pytest.approx(12.0, abs=0.1)


def test_no_dates_no_rate_and_bad_dates_explained():
    assert dates.record_rate(pd.Series([1.0, 2.0, 3.0])) is None
    assert dates.rate_attrs(np.arange(3.0)) == {}
    with pytest.raises(ValueError, match="missing value"):
        dates.record_rate(pd.DatetimeIndex(["2000-01-01", None, "2000-01-03"]))
    with pytest.raises(ValueError, match="same instant"):
        dates.record_rate(pd.DatetimeIndex(["2000-01-01", "2000-01-01"]))


def test_parse_dates_reads_text_and_leaves_numbers_and_words():
    parsed = dates.parse_dates(pd.Series(["2001-01-01", "2001-01-02"], name="day"))
    assert isinstance(parsed, pd.DatetimeIndex) and parsed.name == "day"
    assert dates.parse_dates(pd.Series([1, 2, 3])) is None
    assert dates.parse_dates(pd.Series(["a", "b"])) is None


def test_daily_series_gives_return_levels_in_years_without_being_told(tmp_path):
    """Acceptance: a DatetimeIndex gives the same return levels as the explicit rate."""
    rain = sbp_bayes.datasets.load("rain")
    daily = pd.Series(
        rain.to_numpy(), index=pd.date_range("1914-01-01", periods=rain.size, freq="D"), name="rainfall"
    )
    fit = sbp_bayes.fit(
        daily,
        tails="upper",
        upper_threshold=30.0,
        lower_bound=0.0,
        draws=200,
        tune=200,
        chains=2,
        progressbar=False,
        random_seed=3,
    )
    assert fit.data.attrs["observations_per_year_source"] == "dates"
    assert fit.data.attrs["observations_per_year"] == pytest.approx(365.25)
    inferred = fit.return_levels([10, 100])
    explicit = fit.return_levels([10, 100], 365.25)
    pd.testing.assert_frame_equal(inferred, explicit, rtol=1e-12)
    assert inferred.attrs["observations_per_period"] == pytest.approx(365.25)

    reloaded = sbp_bayes.load(fit.save(tmp_path / "fit.nc"))
    assert isinstance(reloaded.data.index, pd.DatetimeIndex)
    assert reloaded.data.attrs["record_start"] == "1914-01-01"
    pd.testing.assert_frame_equal(reloaded.return_levels([10, 100]), explicit, rtol=1e-12)


def test_series_without_dates_still_asks_for_the_rate(rain_fixed_fit):
    fit = rain_fixed_fit
    undated = sbp_bayes.SBPFit(fit.idata, pd.Series(fit.data.to_numpy()), fit.design, fit.config, fit.version)
    with pytest.raises(ValueError, match="no dates"):
        undated.return_levels([10])
