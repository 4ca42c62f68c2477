"""The parser: TOML text to a validated :class:`~sbp_bayes.spec.Spec`.

:func:`load_spec` reads a file, :func:`loads_spec` a string. The parser walks the sections
in order and stops at the first problem with a one-line :class:`SpecError` naming the
file, the section and the key, and, for a misspelt name, the closest valid one.
"""

from __future__ import annotations

import inspect
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path

import sbp_bayes.spec.objects as objects
from sbp_bayes import datasets
from sbp_bayes.priors import Prior, PriorError
from sbp_bayes.spec.checks import (
    SpecError,
    SpecKey,
    as_list,
    check_covariates,
    check_csv,
    checked,
    choice,
    closest,
    comma_list,
    is_number,
    one_line,
    show,
    text_check,
    type_name,
)
from sbp_bayes.spec.schema import (
    DATA_KEYS,
    DYNAMIC_FAMILIES,
    DYNAMIC_KEY_FAMILIES,
    DYNAMIC_KEYS,
    DYNAMIC_REPORT_KEYS,
    FAMILIES,
    REPORT_KEYS,
    SAMPLER_KEYS,
    SBP_MODEL_KEYS,
    SECTIONS,
    STUDY_KEYS,
    THRESHOLD_PRIOR_KEYS,
    section_of,
)

__all__ = ["load_spec", "loads_spec"]


def load_spec(path, *, check_data: bool = True) -> objects.Spec:
    """Read and validate a spec file.

    Parameters
    ----------
    path : str or Path
        The TOML file. A ``[data] path`` inside it is relative to its folder.
    check_data : bool
        Check that a data file and its columns exist (``False`` when only the report
        settings are needed, e.g. to re-render a saved fit whose data have moved).

    Raises
    ------
    SpecError
        One line naming the file and the key: unknown sections or keys (with the
        closest valid name), wrong types, missing files or columns, bad values.

    Examples
    --------
    >>> from pathlib import Path
    >>> import sbp_bayes
    >>> spec = load_spec(Path(sbp_bayes.__file__).parents[1] / "models" / "danish.toml")
    >>> spec.data.dataset, spec.model.tails, spec.report.es_levels
    ('danish', 'upper', (0.99,))
    """
    source = str(path)
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{source}: no such spec file" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"{source}: cannot read the spec: {error}") from None
    return loads_spec(text, base_dir=path.resolve().parent, source=source, check_data=check_data)


def loads_spec(text: str, *, base_dir=".", source: str = "<string>", check_data: bool = True) -> objects.Spec:
    """Validate a spec given as TOML text (see :func:`load_spec`); ``base_dir`` resolves a
    relative ``[data] path`` and ``source`` names the spec in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: not valid TOML: {one_line(error)}") from None
    for name, value in raw.items():
        if name not in SECTIONS:
            hint = closest(name, SECTIONS)
            if not isinstance(value, dict):
                where = section_of(name)
                hint = hint or (f"; it belongs in [{where}]" if where else "")
                raise SpecError(
                    f"{source}: unknown top-level key {name!r}{hint} (sections: {comma_list(SECTIONS)})"
                )
            raise SpecError(
                f"{source}: unknown section [{name}]{hint} (valid sections: {comma_list(SECTIONS)})"
            )
        if not isinstance(value, dict):
            raise SpecError(
                f"{source}: [{name}] must be a table (a [{name}] section), got {type_name(value)}"
            )

    parser = _Parser(source, raw)
    study = parser.section("study", STUDY_KEYS)
    data = parser.data(Path(base_dir), check_data)
    dynamic = None
    if "dynamic" in raw:
        model = parser.dynamic_model()
        dynamic = parser.dynamic(model, data, check_data)
        priors, threshold_priors = {}, {}
        report = objects.DynamicReportSpec(**parser.dynamic_report())
    else:
        model = parser.model()
        priors = parser.priors(model)
        threshold_priors = parser.threshold_priors(model)
        report = parser.report(model)
    sampler = objects.SamplerSpec(**parser.section("sampler", SAMPLER_KEYS))
    if study["name"] is None:
        study["name"] = Path(source).stem if source != "<string>" else "study"
    return objects.Spec(
        source=source,
        study=objects.StudySpec(**study),
        data=data,
        model=model,
        priors=priors,
        threshold_priors=threshold_priors,
        sampler=sampler,
        report=report,
        dynamic=dynamic,
    )


class _Parser:
    """Walks the raw TOML dict section by section, raising :class:`SpecError` on the first problem."""

    def __init__(self, source: str, raw: dict):
        self.source = source
        self.raw = raw

    def error(self, message: str) -> SpecError:
        return SpecError(f"{self.source}: {message}")

    def section(self, name: str, keys: Mapping[str, SpecKey], *, label: str | None = None) -> dict:
        label = label or f"[{name}]"
        given = self.raw.get(name, {})
        for key in given:
            if key not in keys:
                raise self.error(
                    f"{label} unknown key {key!r}{closest(key, keys)} (valid keys: {comma_list(keys)})"
                )
        out = {}
        for key, spec_key in keys.items():
            if key in given:
                out[key] = checked(self.source, label, key, spec_key, given[key])
            else:
                out[key] = list(spec_key.default) if isinstance(spec_key.default, list) else spec_key.default
        return out

    def data(self, base_dir: Path, check_data: bool) -> objects.DataSpec:
        if "data" not in self.raw:
            raise self.error(
                'missing section [data]: give dataset = "danish" (bundled) or path = "file.csv" and column'
            )
        values = self.section("data", DATA_KEYS)
        if values["dataset"] is not None:
            if values["path"] is not None:
                raise self.error(
                    "[data] dataset and path are both set; give one: a bundled dataset or a CSV path"
                )
            for key in ("column", "time_column", "series_column"):
                if values[key] is not None:
                    raise self.error(
                        f"[data] {key} applies to a CSV path, not to the bundled dataset "
                        f"{values['dataset']!r} (its column is {datasets.info(values['dataset']).column!r})"
                    )
            return objects.DataSpec(**values)
        if values["path"] is None:
            raise self.error(
                f'[data] needs dataset = "name" (bundled: {comma_list(datasets.available())}) '
                'or path = "file.csv" with column = "..."'
            )
        if values["column"] is None:
            raise self.error(f"[data] column is missing: say which column of {values['path']} holds the data")
        values["path"] = (base_dir / values["path"]).resolve()
        if values["series_column"] is not None:
            if values["time_column"] is not None:
                raise self.error(
                    "[data] time_column applies to a spec of one series; a many-series spec "
                    "(series_column) fits each series as a sample, without its times"
                )
            if values["series_column"] == values["column"]:
                raise self.error("[data] series_column and column name the same column; name two columns")
            if "dynamic" in self.raw:
                raise self.error(
                    "[data] series_column: many series are fitted with static models only; remove the "
                    "[dynamic] section or series_column"
                )
        if check_data:
            check_csv(
                self.source, values["path"], values["column"], values["time_column"], values["series_column"]
            )
        return objects.DataSpec(**values)

    def model(self) -> objects.ModelSpec:
        given = self.raw.get("model", {})
        family = checked(
            self.source, "[model]", "family", SpecKey(choice(*FAMILIES)), given.get("family", "sbp")
        )
        keys = FAMILIES[family].model_keys
        options = self.section("model", {"family": SpecKey(text_check, family), **keys})
        options.pop("family")
        tails = options.get("tails")
        if tails is not None:
            for side in ("lower", "upper"):
                has_tail = tails in ("both", side)
                if options.get(f"{side}_threshold") is not None and not has_tail:
                    raise self.error(
                        f"[model] {side}_threshold is set but tails = {show(tails)} has no {side} tail"
                    )
                if options.get(f"{side}_bound") is not None and has_tail:
                    raise self.error(
                        f"[model] {side}_bound applies only to a side without a tail (the body's hard end), "
                        f"but tails = {show(tails)} models the {side} tail"
                    )
            lower, upper = options.get("lower_threshold"), options.get("upper_threshold")
            if lower is not None and upper is not None and max(as_list(lower)) >= min(as_list(upper)):
                raise self.error(
                    f"[model] lower_threshold {show(lower)} must lie below upper_threshold {show(upper)}"
                )
        if (
            options.get("lower_bound") is not None
            and options.get("upper_bound") is not None
            and options["lower_bound"] >= options["upper_bound"]
        ):
            raise self.error(
                f"[model] lower_bound {options['lower_bound']!r} must be below "
                f"upper_bound {options['upper_bound']!r}"
            )
        if options.get("min_tail_points", 0) > options.get("max_tail_points", math.inf):
            raise self.error(
                f"[model] min_tail_points {options['min_tail_points']} must not exceed "
                f"max_tail_points {options['max_tail_points']}"
            )
        return objects.ModelSpec(family, options)

    # -- dynamic models ----------------------------------------------------------------

    def dynamic_model(self) -> objects.ModelSpec:
        given = self.raw.get("model", {})
        family = given.get("family", "sbp")
        if not (isinstance(family, str) and family in DYNAMIC_FAMILIES):
            listed = ", ".join(f'"{name}"' for name in DYNAMIC_FAMILIES)
            shown = f"{show(family)}{closest(family, DYNAMIC_FAMILIES) if isinstance(family, str) else ''}"
            raise self.error(
                f"[model] family must be one of {listed} for a dynamic model ([dynamic] section), got {shown}"
            )
        keys = DYNAMIC_FAMILIES[family].model_keys
        for key in given:
            if key != "family" and key not in keys:
                others = [name for name, other in DYNAMIC_FAMILIES.items() if key in other.model_keys]
                if others:
                    why = ": it applies to family " + " and ".join(f'"{name}"' for name in others)
                elif key in SBP_MODEL_KEYS:
                    why = ": it applies to static models"
                else:
                    why = closest(key, keys)
                raise self.error(
                    f"[model] unknown key {key!r} for a dynamic {family} model{why} "
                    f"(valid keys: {comma_list(['family', *keys])})"
                )
        options = self.section("model", {"family": SpecKey(text_check, family), **keys})
        options.pop("family")
        return objects.ModelSpec(family, options)

    def dynamic(
        self, model: objects.ModelSpec, data: objects.DataSpec, check_data: bool
    ) -> objects.DynamicSpec:
        for section in ("priors", "threshold_priors"):
            if section in self.raw:
                raise self.error(
                    f"[{section}] does not apply to a dynamic model ([dynamic] section): its priors are "
                    "fixed (see sbp_bayes.dynamic); remove the section"
                )
        given = self.raw["dynamic"]
        values = self.section("dynamic", DYNAMIC_KEYS)
        for key, families in DYNAMIC_KEY_FAMILIES.items():
            if key in given and model.family not in families:
                listed = " and ".join(f'"{name}"' for name in families)
                raise self.error(
                    f"[dynamic] {key} applies to family {listed}, "
                    f"not to [model] family = {show(model.family)}"
                )
        if "harmonics" in given and values["seasonal_period"] is None:
            raise self.error(
                "[dynamic] harmonics is set but seasonal_period is not: the Fourier terms need the period"
            )
        covariates = values["covariates"]
        if covariates and data.dataset is not None:
            raise self.error(
                f"[dynamic] covariates need a CSV [data] path holding them; the bundled dataset "
                f"{data.dataset!r} has one column"
            )
        for name in covariates:
            for key in ("column", "time_column"):
                if name == getattr(data, key):
                    raise self.error(
                        f"[dynamic] covariates {name!r} is the [data] {key}; a covariate is another column"
                    )
        if covariates and check_data:
            check_covariates(self.source, data.path, data.column, data.time_column, covariates)
        values["covariates"] = tuple(covariates)
        return objects.DynamicSpec(**values)

    def dynamic_report(self) -> dict:
        given = self.raw.get("report", {})
        for key in given:
            if key in REPORT_KEYS and key not in DYNAMIC_REPORT_KEYS:
                raise self.error(
                    f"[report] {key} applies to static models; a dynamic model's [report] takes: "
                    f"{comma_list(DYNAMIC_REPORT_KEYS)}"
                )
        return self.section("report", DYNAMIC_REPORT_KEYS)

    def priors(self, model: objects.ModelSpec) -> dict:
        given = self.raw.get("priors", {})
        names = FAMILIES[model.family].prior_names
        tails = model.tails
        out = {}
        for name, config in given.items():
            label = f"[priors.{name}]"
            if name not in names:
                raise self.error(f"unknown prior {label}{closest(name, names)} (priors: {comma_list(names)})")
            side = name.split("_")[0]
            if side in ("lower", "upper") and tails is not None and tails not in ("both", side):
                raise self.error(f"{label} is a prior of the {side} tail, but [model] tails = {show(tails)}")
            if not isinstance(config, dict):
                raise self.error(
                    f'{label} must be a table such as {{dist = "Normal", mu = 0.0, sigma = 0.5}}, '
                    f"got {show(config)} ({type_name(config)})"
                )
            out[name] = self._prior(label, name, config)
        return out

    def _prior(self, label: str, name: str, config: dict) -> Prior:
        if "dist" not in config:
            raise self.error(f'{label} dist is missing: name a PyMC distribution, e.g. dist = "Normal"')
        dist = config["dist"]
        if not isinstance(dist, str):
            raise self.error(f"{label} dist must be a string, got {show(dist)} ({type_name(dist)})")
        parameters = {key: value for key, value in config.items() if key != "dist"}
        for key, value in parameters.items():
            ok = is_number(value) or (isinstance(value, list) and all(is_number(v) for v in value))
            if not ok:
                raise self.error(
                    f"{label} {key} must be a number or a list of numbers, got {show(value)} "
                    f"({type_name(value)})"
                )
        try:
            prior = Prior(dist, **parameters)
        except PriorError as error:
            raise self.error(f"{label} dist: {one_line(error)}") from None
        if name == "bin_probs":
            if dist != "Dirichlet" or set(parameters) - {"a"}:
                raise self.error(
                    f'{label} must be {{dist = "Dirichlet", a = <positive number>}}, got '
                    + ", ".join(f"{key} = {show(value)}" for key, value in config.items())
                )
            concentration = parameters.get("a", 1.0)
            if not all(v > 0 for v in as_list(concentration)):
                raise self.error(f"{label} a must be positive, got {show(concentration)}")
            return prior
        if prior.evaluated_by_scipy:  # the common families: checked without importing PyMC
            problem = prior.parameter_problem()
            if problem is not None:
                raise self.error(
                    f"{label} {dist}({_params(parameters)}) is not a valid distribution: {problem}"
                )
            return prior
        # PyMC silently accepts unknown keyword arguments: check names against the signature.
        signature = inspect.signature(getattr(__import__("pymc"), dist).dist)
        accepted = [
            p.name
            for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "cls"
        ]
        for key in parameters:
            if key not in accepted:
                raise self.error(
                    f"{label} {key} is not a parameter of {dist}{closest(key, accepted)} "
                    f"({dist} takes: {comma_list(accepted)})"
                )
        try:
            import pymc as pm

            # FAST_COMPILE: a check, not a computation; the default linker compiles for seconds.
            pm.logp(prior.dist(), 0.5).eval(mode="FAST_COMPILE")
        except Exception as error:  # any failure here is a bad parameter value in the spec
            raise self.error(
                f"{label} {dist}({_params(parameters)}) is not a valid distribution: {one_line(error)}"
            ) from None
        return prior

    def threshold_priors(self, model: objects.ModelSpec) -> dict:
        values = self.section("threshold_priors", THRESHOLD_PRIOR_KEYS)
        tails = model.tails
        out = {}
        for side, weights in values.items():
            if weights is None:
                continue
            if tails is not None and tails not in ("both", side):
                raise self.error(
                    f"[threshold_priors] {side} is set but [model] tails = {show(tails)} has no {side} tail"
                )
            given = model.options.get(f"{side}_threshold")
            if isinstance(weights, list) and given is not None and len(weights) != len(as_list(given)):
                raise self.error(
                    f"[threshold_priors] {side} has {len(weights)} weights but [model] {side}_threshold "
                    f"gives {len(as_list(given))} candidate(s); give one weight per candidate"
                )
            out[side] = weights
        return out

    def report(self, model: objects.ModelSpec) -> objects.ReportSpec:
        values = self.section("report", REPORT_KEYS)
        tails = model.tails
        if values["tail"] is not None and tails is not None and tails not in ("both", values["tail"]):
            raise self.error(
                f"[report] tail = {show(values['tail'])} is not modelled ([model] tails = {show(tails)})"
            )
        return objects.ReportSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _params(parameters: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in parameters.items())
