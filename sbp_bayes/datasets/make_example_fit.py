"""Regenerate the bundled example fit ``danish_fit.nc``: ``python -m sbp_bayes.datasets.make_example_fit``.

The example fit lets the docstring examples of :mod:`sbp_bayes.report` and
:mod:`sbp_bayes.plots` run as doctests without sampling: it is the Danish fire losses
(:func:`sbp_bayes.datasets.load` ``("danish")``) fitted with an upper GPD tail and the
default cross-validation weights over 10 candidate thresholds, 4 chains x 250 draws,
seed 2021. It is small (a few hundred kilobytes) and meant for examples only: the
published-number checks use longer chains (the test suite and the notebooks).

Rerun this module whenever the saved-fit format or the default model changes; the
loader :func:`sbp_bayes.datasets.load_example_fit` records the settings below in the
fit's configuration, so a stale file is easy to spot.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The settings of the bundled fit (also written to PROVENANCE.md).
EXAMPLE_FIT_SETTINGS = {
    "tails": "upper",
    "draws": 250,
    "tune": 1000,
    "chains": 4,
    "random_seed": 2021,
    # The pointwise log-likelihood would be 2167 x 500 numbers, 20 times the draws: not stored.
    "log_likelihood": False,
}


def main(argv: list[str] | None = None) -> Path:
    """Fit the example and write it next to this module (or to ``argv[0]``)."""
    import sbp_bayes

    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else Path(__file__).with_name("danish_fit.nc")
    fit = sbp_bayes.fit(sbp_bayes.datasets.load("danish"), progressbar=False, **EXAMPLE_FIT_SETTINGS)
    report = fit.check(warn=False)
    print(fit)
    print(report)
    return fit.save(target)


if __name__ == "__main__":
    print(main())
