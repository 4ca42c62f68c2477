"""One family registry (sbp_bayes.families.registry): the spec schema, the baseline builders,
the dynamic model and the reports all read their families from it."""

from __future__ import annotations

import pytest

from sbp_bayes import dynamic, families, spec
from sbp_bayes.families.registry import REGISTRY, dynamic_family_names, family_entry, static_family_names


def test_every_reader_lists_the_registry_families():
    assert tuple(spec.FAMILIES) == static_family_names() == tuple(families.FAMILIES)
    assert tuple(spec.DYNAMIC_FAMILIES) == dynamic_family_names() == tuple(dynamic.DYNAMIC_FAMILIES)
    # Families with both forms, and one with only a static form.
    assert {"sbp", "binned", "normal", "student_t"} <= set(static_family_names()) & set(
        dynamic_family_names()
    )
    assert "pot_gpd" not in dynamic_family_names()


@pytest.mark.parametrize("name", static_family_names())
def test_static_family_keys_come_from_the_registry(name):
    form = REGISTRY[name].static
    built = families.get_family(name)
    assert (built.description, built.priors, built.scope) == (form.description, form.priors, form.scope)
    keys = spec.FAMILIES[name].model_keys
    assert list(keys) == list(dict.fromkeys([*form.options, "nan_policy"]))
    assert spec.FAMILIES[name].prior_names == form.priors
    for key, default in form.defaults.items():
        assert keys[key].default == default


def test_family_specific_choices_and_defaults_reach_the_spec():
    text = '[data]\ndataset = "danish"\n[model]\nfamily = "pot_gpd"\ntails = "both"'
    with pytest.raises(spec.SpecError, match=r'\[model\] tails must be one of "upper", got "both"'):
        spec.loads_spec(text)
    binned = spec.loads_spec('[data]\ndataset = "danish"\n[model]\nfamily = "binned"')
    assert binned.model.options["bins"] == 50  # the registry's default for binned, not the SBP's 30


def test_dynamic_feature_keys_follow_the_registry():
    text = '[data]\ndataset = "danish"\n[model]\nfamily = "normal"\n[dynamic]\nbody = "logit"'
    with pytest.raises(spec.SpecError, match=r'\[dynamic\] body applies to family "sbp" and "binned"'):
        spec.loads_spec(text)
    keys = spec.DYNAMIC_FAMILIES["binned"].model_keys
    assert list(keys) == list(REGISTRY["binned"].dynamic.options) == ["bins"]


def test_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match="Unknown dynamic family 'pot_gpd'; choose one of: sbp, binned"):
        family_entry("pot_gpd", "dynamic")
    with pytest.raises(ValueError, match="Unknown family 'gumbel'; choose one of: sbp, sbp_continuous"):
        families.get_family("gumbel")
