"""Model families that ``sbp_bayes.fit(..., family=...)`` can fit.

Every family produces the same result type (:class:`sbp_bayes.SBPFit`) with a
batched numpy predictive distribution, so reports, plots, LOO and calibration work
for all of them, and :func:`sbp_bayes.fit` runs every family the same way (a
:class:`~sbp_bayes.families.base.BuiltModel`, :mod:`sbp_bayes.families.base`). The SBP
with the threshold prior (``"sbp"``, the default) is built by :mod:`sbp_bayes.families.sbp`
(its PyMC models by :mod:`sbp_bayes.model`); the others, the models people would pick
instead, are in :mod:`sbp_bayes.families.baselines`:

====================  ==============================================================  =========
family                model                                                           inference
====================  ==============================================================  =========
``sbp``               binned body + GPD tails, prior over thresholds (default)        NUTS
``sbp`` fixed         the same with ``lower_threshold``/``upper_threshold`` fixed     NUTS
``sbp_continuous``    fixed thresholds, GPD scale set so the density is continuous    NUTS
                      at the splice (evmix's "con" models)
``binned``            the histogram body alone, no tails                              exact
``normal``            Normal(mu, sigma)                                               NUTS
``student_t``         Student-t(nu, mu, sigma)                                        NUTS
``gpd_normal_gpd``    Normal bulk, GPD tails at fixed thresholds (evmix ``gng``)      NUTS
``pot_gpd``           peaks over a fixed threshold: GPD of the excesses (the          NUTS
                      pyextremes workflow); its log-likelihood covers the
                      exceedances only
====================  ==============================================================  =========

pymc-extras' ``ExtGenPareto`` (Naveau et al. 2016) would be a fair further baseline,
but pymc-extras 0.15 pins ``pymc < 6.4``; it is left out rather than pinning PyMC back.

The table of every family by name (static and dynamic forms, spec keys, descriptions) is
:data:`sbp_bayes.families.registry.REGISTRY`; :data:`FAMILIES` adds how each static family
is built and read back.
"""

from sbp_bayes.families.baselines import FAMILIES, Family, get_family

__all__ = ["FAMILIES", "Family", "get_family"]
