"""The ``sbp-bayes`` command line: fit a model spec, re-render its report, check a fit.

``sbp-bayes fit SPEC --out DIR`` fits the model a spec describes (``models/*.toml``, see
:mod:`sbp_bayes.spec`) and writes into ``DIR``: ``fit.nc`` (the saved fit), ``spec.toml``
(a copy of the spec with the settings and seed actually used, so it reproduces the fit),
``report.md`` / ``report.html``, ``tables/*.csv`` and ``figures/*.png``.
``sbp-bayes report DIR`` re-renders the report; ``sbp-bayes check DIR`` prints the
convergence diagnostics and exits with status 1 when they fail.

``sbp-bayes fit-many SPEC --out DIR`` fits the spec's model to every series of a
long-format CSV (``[data] series_column``) on a Dask cluster (:func:`sbp_bayes.fit_many`):
each finished series is kept in ``DIR/store`` at once, an interrupted run continues where
it stopped when rerun, and the summary is written as ``DIR/summary.csv`` and
``DIR/summary.md``.

``sbp-bayes diagnose DATA_OR_SPEC`` prints what to read before a fit, without sampling: the
candidate thresholds with their cross-validation weights, the mean residual life and
parameter-stability diagnostics at each, and the extremal index of the series
(``--out DIR`` writes the tables and plots).

A spec with a ``[dynamic]`` section describes a time series model
(:func:`sbp_bayes.dynamic.fit_dynamic`, e.g. ``models/paper_synthetic.toml``): the same
commands fit it, save it (:meth:`sbp_bayes.dynamic.DynamicFit.save`) and write its report
(:mod:`sbp_bayes.render_dynamic`: calibration, unusual observations, tail shape over time).

Mistakes in the input (a bad spec, unusable data, a missing folder, a sampler that is
not installed) end with one line ``sbp-bayes: error: ...`` on stderr and exit status 2.

Examples
--------
>>> main(["check", "no/such/folder"])  # stderr: sbp-bayes: error: no/such/folder: no such folder; ...
2
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

__all__ = ["main"]

PROG = "sbp-bayes"
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USER_ERROR = 2
QUICK = {"chains": 2, "draws": 300, "tune": 300}

EPILOG = """\
examples:
  sbp-bayes init flows.csv
      write flows.toml, a commented spec for the data in flows.csv (columns detected)
  sbp-bayes fit models/danish.toml --out results/danish
      fit the model, save results/danish/fit.nc, write results/danish/report.md
  sbp-bayes fit models/rain.toml --out /tmp/rain --quick
      a first look: 2 chains x 300 draws (diagnostics will usually fail: not for use)
  sbp-bayes fit models/danish.toml --out results/danish --draws 2000 --seed 7
      override the spec's sampler settings
  sbp-bayes report results/danish
      re-render the report from the saved fit (e.g. after changing [report] in spec.toml)
  sbp-bayes check results/danish && echo converged
      print the diagnostics; exit status 1 when they fail
  sbp-bayes fit models/paper_synthetic.toml --out results/paper_synthetic
      a dynamic model (a [dynamic] section: lags, season, covariates): a time series
      whose distribution, tails included, moves with its past, season and covariates
  sbp-bayes fit-many models/many_gauges.toml --out results/gauges --workers 2
      one fit per series of a long CSV ([data] series_column), on a Dask cluster

exit status: 0 success, 1 diagnostics failed (check), 2 bad input (spec, data, folder).
A model spec is a TOML file with sections [study], [data], [model], [priors.*],
[threshold_priors], [sampler] and [report]; see models/danish.toml. A [dynamic] section
makes it a time series model; see models/paper_synthetic.toml. Start one for your data
with 'sbp-bayes init DATA.csv'; 'sbp-bayes spec-keys' (and 'sbp-bayes fit --help') lists
every key with its meaning and default.
"""


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2, no traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from sbp_bayes.distributions import InvalidParameterError
    from sbp_bayes.many import ManyFitError
    from sbp_bayes.model import DataError
    from sbp_bayes.priors import PriorError
    from sbp_bayes.spec import SpecError

    return (UserError, SpecError, DataError, PriorError, InvalidParameterError, ManyFitError)


def _stage(message: str) -> None:
    """Progress for people: stage messages go to stderr, results to stdout."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


# ----------------------------------------------------------------------------- helpers


def _fit_folder(path: str) -> tuple[Path, Path]:
    """``(folder, fit.nc)`` for a results folder (or the fit file itself)."""
    given = Path(path)
    if given.is_file():
        return given.parent, given
    if not given.is_dir():
        raise UserError(f"{path}: no such folder; give the --out folder of 'sbp-bayes fit'")
    fit_file = given / "fit.nc"
    if not fit_file.is_file():
        raise UserError(f"{path}: no fit.nc in this folder; make one with 'sbp-bayes fit SPEC --out {path}'")
    return given, fit_file


def _load_fit(fit_file: Path):
    from sbp_bayes.persistence import load

    try:
        return load(fit_file)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{fit_file}: cannot read the saved fit: {_one_line(error)}") from None


def _require_sampler(name: str) -> None:
    from sbp_bayes.sampling import check_sampler

    try:
        check_sampler(name)
    except ImportError as error:
        # The Python advice "use sampler='pymc'" in the words of the command line and the spec.
        message = re.sub(
            r"use sampler='(\w+)'", r'use --sampler \1 (or name = "\1" in [sampler])', _one_line(error)
        )
        raise UserError(message) from None


def _command_line(argv: list[str]) -> str:
    return " ".join([PROG, *(shlex.quote(arg) for arg in argv)])


def _is_dynamic(fit) -> bool:
    return fit.kind == "dynamic"


def _write_report(fit, spec, out_dir: Path, *, command: str) -> Path:
    """The report of either kind of fit (:mod:`sbp_bayes.render` or :mod:`sbp_bayes.render_dynamic`)."""
    options = {"command": command, "on_problem": lambda m: _stage(f"warning: {m}")}
    if _is_dynamic(fit):
        from sbp_bayes.render_dynamic import write_dynamic_report

        return write_dynamic_report(fit, spec, out_dir, **options)
    from sbp_bayes.render import write_report

    return write_report(fit, spec, out_dir, **options)


# ----------------------------------------------------------------------------- commands


def _sampler_changes(spec, args, *, draw_seed: bool = True):
    """The spec with the command line's sampler settings (and a recorded seed)."""
    changes = dict(QUICK) if args.quick else {}
    for key, value in (
        ("draws", args.draws),
        ("tune", args.tune),
        ("chains", args.chains),
        ("random_seed", args.seed),
        ("name", args.sampler),
    ):
        if value is not None:
            changes[key] = value
    if draw_seed and spec.sampler.random_seed is None and "random_seed" not in changes:
        # Record a seed so that the spec copy in the output folder reproduces this fit.
        changes["random_seed"] = secrets.randbelow(2**31)
    spec = spec.with_sampler(**changes)
    _require_sampler(spec.sampler.name)
    return spec


def _cmd_fit(args, argv) -> int:
    from sbp_bayes.spec import load_spec

    spec = load_spec(args.spec)
    if spec.is_many:
        raise UserError(
            f"{args.spec} describes many series ([data] series_column = {spec.data.series_column!r}); "
            f"fit them with 'sbp-bayes fit-many {args.spec} --out DIR'"
        )
    spec = _sampler_changes(spec, args)

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder")

    _stage(f"loading data: {spec.data.describe()}")
    data = spec.load_data()
    sampler = spec.sampler
    kind = f"dynamic {spec.model.family}, " if spec.is_dynamic else ""
    _stage(
        f"fitting: {kind}{len(data)} observations, {sampler.chains} chains x {sampler.draws} draws, "
        f"sampler {sampler.name}, seed {sampler.random_seed}"
    )
    started = time.perf_counter()
    fit = spec.fit(data, progressbar=sys.stderr.isatty())
    _stage(_how_sampled(fit, time.perf_counter() - started))
    if args.quick:
        fit = _marked_quick(fit)

    out_dir.mkdir(parents=True, exist_ok=True)
    fit_file = fit.save(out_dir / "fit.nc")
    command = _command_line(argv)
    made = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    comment = (
        f"Written by {command}\non {made} from {args.spec}, with the sampler settings and seed used.\n"
        f"Refit exactly: sbp-bayes fit {out_dir}/spec.toml --out {out_dir}"
    )
    (out_dir / "spec.toml").write_text(spec.to_toml(comment), encoding="utf-8")

    _stage("writing the report (tables and figures)")
    report = _write_report(fit, spec, out_dir, command=command)
    diagnostics = _diagnostics(fit)
    print(
        f"Fit saved to {fit_file}"
        + (" (a quick look, not final: refit without --quick)" if args.quick else "")
    )
    print(f"Report: {report} (and {report.with_suffix('.html')}); tables in {out_dir / 'tables'}")
    print(str(diagnostics).splitlines()[0])
    for problem in diagnostics.problems:
        print(f"- {problem}")
    if not diagnostics.passed:
        print(f"Do not use these results yet: see the report, or run 'sbp-bayes check {out_dir}'.")
    return EXIT_OK


def _how_sampled(fit, seconds: float) -> str:
    """What the fit did to get its draws: only NUTS compiles a model (or loads it from the
    compile cache); quadrature and exact conjugate draws compile nothing.

    >>> class Fit:
    ...     config = {"sampler": "quadrature", "chains": 4, "draws": 1000}
    >>> _how_sampled(Fit(), 1.6)
    'drew 4 x 1000 posterior draws by quadrature over each candidate threshold (nothing to compile) in 2 s'
    """
    config = fit.config
    sampler, draws = config.get("sampler"), f"{config.get('chains')} x {config.get('draws')}"
    if sampler == "quadrature":
        how = f"drew {draws} posterior draws by quadrature over each candidate threshold (nothing to compile)"
    elif sampler == "exact":
        how = f"drew {draws} exact posterior draws (conjugate posterior, nothing to compile)"
    else:
        how = (
            f"compiled the model (or loaded it from the compile cache) and sampled {draws} draws "
            f"(+{config.get('tune')} tuning) by NUTS ({sampler})"
        )
    return f"{how} in {seconds:.0f} s"


def _cmd_fit_many(args, argv) -> int:
    import json

    from sbp_bayes.many import fit_many, summary_markdown
    from sbp_bayes.spec import load_spec

    spec = load_spec(args.spec)
    if not spec.is_many:
        raise UserError(
            f"{args.spec}: [data] has no series_column, so the spec describes one series; name the column "
            'holding the series names with series_column = "..." (a long CSV: one row per observation), '
            "or fit this spec with 'sbp-bayes fit'"
        )
    # Without a seed the store draws one and keeps it: a rerun then completes the same run.
    spec = _sampler_changes(spec, args, draw_seed=False)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder")

    _stage(f"loading data: {spec.data.describe()}")
    frame = spec.load_many()
    column, series_column = spec.data.column, spec.data.series_column
    n_series = frame[series_column].nunique()
    where = (
        f"the scheduler at {args.scheduler}"
        if args.scheduler
        else (f"an embedded cluster of {args.workers or len(os.sched_getaffinity(0))} worker processes")
    )
    sampler = spec.sampler
    _stage(
        f"fitting {n_series} series ({len(frame)} observations) on {where}: {spec.model.family}, "
        f"{sampler.chains} chains x {sampler.draws} draws (+{sampler.tune} tuning) each; "
        f"finished series are kept in {out_dir / 'store'}"
    )
    last = [0.0]

    def progress(state) -> None:
        # A line every few seconds, and the last one: enough to follow 10^5 series.
        now = time.monotonic()
        if now - last[0] >= args.progress_every or state.remaining == 0:
            last[0] = now
            _stage(str(state))

    report = spec.report
    options = spec.fit_kwargs()
    try:
        table = fit_many(
            frame,
            series=series_column,
            value=column,
            store=out_dir / "store",
            client=args.scheduler,
            n_workers=args.workers,
            return_periods=report.return_periods,
            observations_per_period=spec.observations_per_period() or 1.0,
            var_levels=report.var_levels,
            es_levels=report.es_levels,
            exceedance=report.exceedance,
            tail=spec.report_tail(),
            ci_prob=report.ci_prob,
            progress=progress,
            **options,
        )
    except KeyboardInterrupt:
        _stage(f"the finished series are kept in {out_dir / 'store'}; rerun the same command to fit the rest")
        raise
    seed = json.loads((out_dir / "store" / "manifest.json").read_text(encoding="utf-8"))["random_seed"]
    spec = spec.with_sampler(random_seed=seed)
    command = _command_line(argv)
    comment = (
        f"Written by {command}\nfrom {args.spec}, with the sampler settings and base seed used.\n"
        f"Complete or reproduce: sbp-bayes fit-many {out_dir}/spec.toml --out {out_dir}"
    )
    (out_dir / "spec.toml").write_text(spec.to_toml(comment), encoding="utf-8")
    table.to_csv(out_dir / "summary.csv")
    title = f"{spec.study.name}: {spec.model.family} fitted to {n_series} series of {spec.data.path.name}"
    (out_dir / "summary.md").write_text(summary_markdown(table, title=title), encoding="utf-8")
    counts = table.status.value_counts()
    passed = int((table.verdict == "passed").sum())
    print(
        f"{len(table)} series: {int(counts.get('fitted', 0))} fitted ({passed} passed the diagnostics), "
        f"{int(counts.get('failed', 0))} failed"
    )
    print(f"Summary: {out_dir / 'summary.csv'} and {out_dir / 'summary.md'}; fits in {out_dir / 'store'}")
    for name, reason in table.loc[table.status == "failed", "reason"].head(10).items():
        print(f"- failed: {name}: {reason}")
    return EXIT_OK


def _marked_quick(fit):
    """A shallow copy of ``fit`` whose configuration records that it is a ``--quick`` look
    (saved with it, so that every report of it says so; the fit itself is not changed)."""
    import copy

    marked = copy.copy(fit)
    marked.config = {**fit.config, "quick": True}
    return marked


def _diagnostics(fit):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own warnings repeat what the report says
        return fit.check(warn=False)


def _cmd_report(args, argv) -> int:
    from sbp_bayes.spec import load_spec

    out_dir, fit_file = _fit_folder(args.dir)
    _stage(f"loading the fit {fit_file}")
    fit = _load_fit(fit_file)
    spec_file = out_dir / "spec.toml"
    spec = None
    if spec_file.is_file():
        # The data are in fit.nc: the data file named by the spec need not exist any more.
        spec = load_spec(spec_file, check_data=False)
        if spec.is_dynamic != _is_dynamic(fit):
            kinds = ("static", "dynamic")
            raise UserError(
                f"{spec_file} describes a {kinds[spec.is_dynamic]} model but {fit_file} holds a "
                f"{kinds[_is_dynamic(fit)]} fit; put back the spec copy that 'sbp-bayes fit' wrote"
            )
    else:
        _stage(f"warning: no {spec_file}; using the default report settings")
    _stage("writing the report (tables and figures)")
    report = _write_report(fit, spec, out_dir, command=_command_line(argv))
    print(f"Report: {report} (and {report.with_suffix('.html')})")
    return EXIT_OK


def _cmd_check(args, argv) -> int:
    _out_dir, fit_file = _fit_folder(args.dir)
    diagnostics = _diagnostics(_load_fit(fit_file))
    print(diagnostics)
    return EXIT_OK if diagnostics.passed else EXIT_CHECK_FAILED


def _cmd_init(args, argv) -> int:
    from sbp_bayes.spec import init_spec

    csv = Path(args.data)
    out = Path(args.out) if args.out else csv.with_suffix(".toml")
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; choose another name with --out, or overwrite it with --force")
    if out.suffix != ".toml":
        raise UserError(f"--out {out}: a spec is a TOML file; give a name ending in .toml")
    text = init_spec(csv, out, column=args.column, time_column=args.time_column)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"Spec written to {out}; read its comments, then fit it:")
    print(f"  {PROG} fit {shlex.quote(str(out))} --out results/{_folder_name(out.stem)}")
    return EXIT_OK


def _cmd_spec_keys(args, argv) -> int:
    from sbp_bayes.spec import spec_reference

    print(spec_reference("markdown" if args.markdown else "text"))
    return EXIT_OK


def _cmd_diagnose(args, argv) -> int:
    """Threshold diagnostics and the extremal index of a CSV's or a spec's data, with no sampling.

    The candidate thresholds and their cross-validation weights are those of the default
    fit, computed by quadrature (seconds, nothing compiled); the mean residual life and the
    parameter stability are maximum likelihood fits at each candidate; the extremal index
    reads the series in its time order (file order, or the spec's time column).
    """
    import tempfile

    import numpy as np
    import pandas as pd

    import sbp_bayes
    from sbp_bayes import thresholds
    from sbp_bayes.clusters import EXTREMAL_INDEX_METHODS
    from sbp_bayes.spec import init_spec, load_spec

    source = Path(args.source)
    if not source.is_file():
        raise UserError(f"{args.source}: no such file; give a CSV file of data or a model spec (.toml)")
    if source.suffix.lower() == ".toml":
        if args.column or args.time_column:
            raise UserError("--column and --time-column apply to a CSV file; a spec names its own columns")
        spec = load_spec(source)
        data = spec.load_data()
    else:
        with tempfile.TemporaryDirectory() as folder:
            # The CSV read exactly as 'sbp-bayes init' then 'fit' would read it.
            spec_path = Path(folder) / "diagnose.toml"
            spec_path.write_text(
                init_spec(source, spec_path, column=args.column, time_column=args.time_column),
                encoding="utf-8",
            )
            spec = load_spec(spec_path)
            data = spec.load_data()
    if spec.is_many:
        raise UserError(
            f"{args.source} describes many series; diagnose one series (one CSV column) at a time"
        )
    if isinstance(data, pd.DataFrame):  # a dynamic spec: the modelled column
        data = data[spec.target]
    options = {}
    if not spec.is_dynamic and spec.model.family == "sbp":
        keep = ("bins", "tails", "n_candidates", "tail_fraction", "max_tail_points", "min_tail_points")
        keep += ("lower_bound", "upper_bound", "nan_policy", "lower_threshold", "upper_threshold")
        options = {
            key: value for key, value in spec.model.options.items() if key in keep and value is not None
        }
        if spec.priors:
            options["priors"] = dict(spec.priors)
        if spec.threshold_priors:
            options["threshold_priors"] = dict(spec.threshold_priors)
    if args.tails:
        options["tails"] = args.tails
    if any(isinstance(options.get(f"{side}_threshold"), int | float) for side in ("lower", "upper")):
        raise UserError(
            f"{args.source} fixes a threshold; diagnose weighs candidate thresholds: remove "
            "lower_threshold/upper_threshold from [model] (or give a list of candidates)"
        )
    try:
        fit = sbp_bayes.fit(
            data,
            **options,
            threshold_weights="cross_validation",
            sampler="quadrature",
            draws=200,
            tune=200,
            chains=1,
            progressbar=False,
            log_likelihood=False,
            random_seed=0,
        )
        weights = fit.threshold_weights()
        sides = list(dict.fromkeys(weights.index.get_level_values("tail")))
        out_dir = Path(args.out) if args.out else None
        if out_dir is not None:
            (out_dir / "tables").mkdir(parents=True, exist_ok=True)
        rate = fit.data.attrs.get("observations_per_year")
        print(
            f"{len(fit.data)} observations of {spec.data.describe()}"
            + (f"; {float(rate):.6g} observations per year" if rate else "")
        )
        for side in sides:
            table = weights.xs(side, level="tail")[["threshold", "exceedances", "weight"]].copy()
            candidates = table["threshold"].to_numpy()
            stability = thresholds.parameter_stability(fit.data, candidates, tail=side)
            residual = thresholds.mean_residual_life(fit.data, candidates, tail=side)
            table["xi"] = stability["xi"].to_numpy()
            table["xi_ci_lower"] = stability["xi_ci_lower"].to_numpy()
            table["xi_ci_upper"] = stability["xi_ci_upper"].to_numpy()
            table["modified_scale"] = stability["modified_scale"].to_numpy()
            table["mean_excess"] = residual["mean_excess"].to_numpy()
            # The extremal index at the weighted median candidate: where the fit's tail begins.
            order = np.argsort(candidates)
            cumulative = np.cumsum(table["weight"].to_numpy()[order])
            at = float(candidates[order][min(np.searchsorted(cumulative, 0.5), order.size - 1)])
            theta = pd.concat(
                [
                    sbp_bayes.extremal_index(fit.data, at, method=method, tail=side, random_seed=0).to_frame()
                    for method in EXTREMAL_INDEX_METHODS
                ]
            )
            print(
                f"\n{side.capitalize()} tail: candidate thresholds, cross-validation weights, and the maximum"
            )
            print("likelihood GPD shape (95% interval), modified scale and mean excess at each:")
            print(table.to_string(float_format=lambda v: f"{v:.4g}"))
            print(
                f"\nExtremal index of the {side} tail at {at:.6g} (the weighted median candidate; 1 = no "
                "clusters, 1/theta = mean cluster size; 95% intervals):"
            )
            columns = ["theta", "ci_lower", "ci_upper", "n_exceedances", "n_clusters"]
            print(theta[columns].to_string(float_format=lambda v: f"{v:.3f}"))
            if out_dir is not None:
                table.to_csv(out_dir / "tables" / f"candidates_{side}.csv")
                theta.to_csv(out_dir / "tables" / f"extremal_index_{side}.csv")
                thresholds.mean_residual_life(fit.data, tail=side).to_csv(
                    out_dir / "tables" / f"mean_residual_life_{side}.csv"
                )
                thresholds.parameter_stability(fit.data, tail=side).to_csv(
                    out_dir / "tables" / f"parameter_stability_{side}.csv"
                )
                if not args.no_figures:
                    import matplotlib.pyplot as plt

                    from sbp_bayes import plots

                    (out_dir / "figures").mkdir(exist_ok=True)
                    for name, draw in (
                        ("mean_residual_life", plots.plot_mean_residual_life),
                        ("parameter_stability", plots.plot_parameter_stability),
                    ):
                        figure = draw(fit, tail=side)
                        figure.savefig(out_dir / "figures" / f"{name}_{side}.png", dpi=110)
                        plt.close(figure)
    except ValueError as error:  # unusable data for a threshold analysis: say so, no traceback
        raise UserError(f"{args.source}: {_one_line(error)}") from None
    if args.out:
        print(
            f"\nTables in {Path(args.out) / 'tables'}"
            + ("" if args.no_figures else ", figures in " + str(Path(args.out) / "figures"))
        )
    return EXIT_OK


def _same_data(spec) -> tuple:
    """What identifies a spec's data: the bundled name, or the CSV file and its columns."""
    data = spec.data
    if data.dataset is not None:
        return ("dataset", data.dataset)
    return ("csv", str(data.path), data.column, data.time_column)


def _folder_name(study_name: str) -> str:
    """A study name as a folder name: anything but letters, digits, ``.``, ``-`` and ``_``
    becomes ``_``."""
    import re

    return re.sub(r"[^\w.-]+", "_", study_name).strip("_") or "model"


def _split(data, holdout: float, seed: int):
    """``(train, test)``: a random ``holdout`` fraction of the observations kept out of every
    fit (the same for all specs); both keep the data's index order."""
    import numpy as np

    n_test = round(holdout * len(data))
    if holdout > 0 and not 0 < n_test < len(data) - 1:
        raise UserError(
            f"--holdout {holdout:g} keeps out {n_test} of {len(data)} observations; choose a fraction that "
            "leaves some for testing and most for fitting (e.g. 0.2)"
        )
    in_test = np.zeros(len(data), dtype=bool)
    in_test[np.random.default_rng(seed).permutation(len(data))[:n_test]] = True
    train, test = data[~in_test], data[in_test]
    train.attrs.update(data.attrs)
    return train, test


def _cmd_compare(args, argv) -> int:
    import warnings

    from sbp_bayes.comparison import ComparisonError, compare
    from sbp_bayes.families import get_family
    from sbp_bayes.spec import load_spec

    if len(args.specs) < 2:
        raise UserError("compare needs at least two specs (models of the same data) to compare")
    specs = [load_spec(path) for path in args.specs]
    for spec in specs:
        if spec.is_dynamic:
            raise UserError(
                f"{spec.source} describes a dynamic model ([dynamic] section); compare handles static models "
                "only: fit it with 'sbp-bayes fit' and score held-out data with DynamicFit.calibration"
            )
    names = [spec.study.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(
            f"two or more specs share the [study] name {repeated[0]!r}; each needs its own name "
            "(it names the model in the table and its folder under --out)"
        )
    reference = specs[0]
    for spec in specs[1:]:
        if _same_data(spec) != _same_data(reference):
            raise UserError(
                f"{spec.source} models {spec.data.describe()} but {reference.source} models "
                f"{reference.data.describe()}; only models of the same data can be compared"
            )
    holdout = args.holdout
    scopes = {get_family(spec.model.family).scope for spec in specs}
    if len(scopes) > 1 and holdout == 0:
        pot = next(spec for spec in specs if get_family(spec.model.family).scope != "all")
        raise UserError(
            f"{pot.source} ({pot.model.family}) has a log-likelihood over the exceedances of its threshold "
            "only, the others over all observations: LOO cannot compare them. Compare them on held-out data "
            "with --holdout 0.2, or leave that spec out"
        )
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    changes = dict(QUICK) if args.quick else {}
    settled = []
    for spec in specs:
        spec_changes = dict(changes)
        if spec.sampler.random_seed is None:
            spec_changes["random_seed"] = seed  # recorded in the fit's config
        settled.append(spec.with_sampler(**spec_changes))
        _require_sampler(settled[-1].sampler.name)
    specs = settled

    _stage(f"loading data: {reference.data.describe()}")
    data = reference.load_data()
    train, test = _split(data, holdout, seed) if holdout > 0 else (data, None)
    if test is not None:
        _stage(f"holding out {len(test)} of {len(data)} observations (fraction {holdout:g}, seed {seed})")

    fits = {}
    for spec in specs:
        sampler = spec.sampler
        _stage(
            f"fitting {spec.study.name} ({spec.model.family}): {len(train)} observations, {sampler.chains} "
            f"chains x {sampler.draws} draws (+{sampler.tune} tuning), seed {sampler.random_seed}"
        )
        started = time.perf_counter()
        fits[spec.study.name] = spec.fit(train, progressbar=sys.stderr.isatty())
        _stage(f"fitted {spec.study.name} in {time.perf_counter() - started:.0f} s")

    _stage(
        "comparing: PSIS-LOO on the fitted data"
        + (", scores on the held-out data" if test is not None else "")
    )
    test_values = None if test is None else test.to_numpy(dtype=float)
    loo = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = compare(fits, test_data=test_values, random_seed=seed)
        except ComparisonError as error:
            if test_values is None:
                raise UserError(_one_line(error)) from None
            _stage(f"warning: no LOO: {_one_line(error).rstrip('.')}; comparing on the held-out data only")
            loo = False
            table = compare(fits, test_data=test_values, loo=False, random_seed=seed)
    for warning in caught:
        if issubclass(warning.category, UserWarning):
            _stage(f"warning: {_one_line(warning.message)}")

    out_dir.mkdir(parents=True, exist_ok=True)
    folders = {name: _folder_name(name) for name in fits}
    for name, fit in fits.items():
        fit.save(out_dir / folders[name] / "fit.nc")
    if test is not None:  # the split itself, so that the scores can be recomputed from the files
        test.rename_axis(test.index.name or "index").to_csv(out_dir / "held_out.csv")
    notes = [
        f"**Quick look, not final results** (`--quick`: {QUICK['chains']} chains x {QUICK['draws']} draws "
        "per model): refit without --quick before drawing conclusions"
        if args.quick
        else None,
        f"Specs: {', '.join(f'`{spec.source}`' for spec in specs)}",
        f"Data: {reference.data.describe()}, {len(data)} observations",
        f"Held out: {len(test)} observations ({holdout:g}), chosen at random with seed {seed} "
        f"(listed in held_out.csv); every model was fitted to the other {len(train)}"
        if test is not None
        else "No held-out data (--holdout 0): LOO only, no calibration on new data",
        None if loo else "No LOO: the models' log-likelihoods cover different observations (see the log)",
        f"Fits saved as {', '.join(f'{folder}/fit.nc' for folder in folders.values())}",
    ]
    from sbp_bayes.render_compare import best_models, write_comparison

    quick = " (quick look, not final)" if args.quick else ""
    report = write_comparison(
        table,
        fits,
        out_dir,
        title=f"Model comparison{quick}: {reference.data.describe()}",
        notes=[note for note in notes if note],
        command=_command_line(argv),
    )
    by = "PSIS-LOO" if loo else "held-out log score"
    # Models whose scores read the same are a tie, not a winner and a loser.
    best, shown = best_models(table["elpd_loo" if loo else "test_elpd"], lowest=False)
    named = [f"{name} ({table.loc[name, 'family']})" for name in best]
    if len(named) == 1:
        print(f"Best by {by}: {named[0]}{quick}")
    else:
        print(f"Best by {by}: a tie between {', '.join(named)} ({shown}){quick}")
    print(f"Comparison: {report} (table {out_dir / 'comparison.csv'}, figure {out_dir / 'comparison.png'})")
    return EXIT_OK


# ----------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def _holdout_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1) such as 0.2, got {value:g}")
    return value


def _add_sampler_options(command: argparse.ArgumentParser, *, seed: str, quick: str) -> None:
    """The options that override a spec's ``[sampler]`` section (``fit`` and ``fit-many``);
    ``seed`` is the help of ``--seed``, ``quick`` ends the help of ``--quick``."""
    from sbp_bayes.sampling import SAMPLERS

    settings = command.add_argument_group("sampler settings (override the spec's [sampler] section)")
    settings.add_argument("--draws", type=_positive_int, metavar="N", help="draws per chain")
    settings.add_argument("--tune", type=_non_negative_int, metavar="N", help="tuning steps per chain")
    settings.add_argument("--chains", type=_positive_int, metavar="N", help="number of chains")
    settings.add_argument("--seed", type=_non_negative_int, metavar="N", help=seed)
    settings.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help="sampler: auto (quadrature for the default SBP fit, nutpie otherwise) or a NUTS implementation",
    )
    settings.add_argument(
        "--quick",
        action="store_true",
        help=f"a quick look: {QUICK['chains']} chains x {QUICK['draws']} draws ({QUICK['tune']} tuning)"
        + quick,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands fit, report, check, fit-many, compare)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Bayesian spliced binned-Pareto models of heavy-tailed data:\n"
        "from a model spec (TOML) to a fit, a report and its diagnostics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from sbp_bayes.spec import spec_reference

    fit = commands.add_parser(
        "fit",
        help="fit a model spec; save the fit and write the report",
        description="Fit the model a spec describes and write into the output folder: fit.nc,\n"
        "spec.toml (the spec with the settings and seed used), report.md/.html,\n"
        "tables/*.csv and figures/*.png. Start a spec with 'sbp-bayes init DATA.csv'.",
        epilog="example:\n  sbp-bayes fit models/danish.toml --out results/danish --quick\n\n"
        "spec keys (TOML sections and keys, meaning and default):\n" + spec_reference("text"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("spec", metavar="SPEC", help="model spec (TOML), e.g. models/danish.toml")
    fit.add_argument("--out", "-o", metavar="DIR", required=True, help="output folder (created if needed)")
    _add_sampler_options(fit, seed="random seed", quick="; --draws/--tune/--chains still win")
    fit.set_defaults(run=_cmd_fit)

    init = commands.add_parser(
        "init",
        help="write a commented model spec for a CSV file (columns detected)",
        description="Write a commented model spec (TOML) for a CSV file: the first numeric column\n"
        "is modelled (or --column), a column of dates becomes the time index (or\n"
        "--time-column; observations per year are then inferred from the dates). The\n"
        "spec is valid as written: 'sbp-bayes fit' accepts it unchanged.",
        epilog="example:\n  sbp-bayes init flows.csv && sbp-bayes fit flows.toml --out results/flows --quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument("data", metavar="DATA.csv", help="the data file (CSV with a header line)")
    init.add_argument("--out", "-o", metavar="SPEC", help="spec file to write (default: DATA.toml)")
    init.add_argument("--column", metavar="NAME", help="column to model (default: the first numeric one)")
    init.add_argument("--time-column", metavar="NAME", help="column of times (default: a column of dates)")
    init.add_argument("--force", action="store_true", help="overwrite an existing spec file")
    init.set_defaults(run=_cmd_init)

    keys = commands.add_parser(
        "spec-keys",
        help="list every spec key with its meaning and default",
        description="Every key a model spec accepts, section by section, with its meaning and default.",
    )
    keys.add_argument("--markdown", action="store_true", help="as a Markdown table (for documentation)")
    keys.set_defaults(run=_cmd_spec_keys)

    diagnose = commands.add_parser(
        "diagnose",
        help="threshold diagnostics and the extremal index of the data, without fitting",
        description="Before a fit: the candidate thresholds with their cross-validation weights\n"
        "(computed by quadrature, no sampling), the maximum likelihood GPD shape, modified\n"
        "scale and mean excess at each (the mean residual life and parameter-stability\n"
        "diagnostics), and the extremal index (intervals, runs, K-gaps) at the weighted\n"
        "median candidate. With --out: the tables as CSV and the two diagnostic plots.",
        epilog="examples:\n  sbp-bayes diagnose rain.csv\n"
        "  sbp-bayes diagnose models/rain.toml --out results/rain_diagnostics",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diagnose.add_argument("source", metavar="DATA_OR_SPEC", help="a CSV file of data or a model spec (.toml)")
    diagnose.add_argument("--out", "-o", metavar="DIR", help="write tables/*.csv and figures/*.png here")
    diagnose.add_argument("--column", metavar="NAME", help="CSV: the column (default: the first numeric one)")
    diagnose.add_argument(
        "--time-column", metavar="NAME", help="CSV: column of times (default: a column of dates)"
    )
    diagnose.add_argument(
        "--tails",
        choices=("both", "upper", "lower"),
        help="tails to diagnose (default: the spec's, or as 'init' chooses)",
    )
    diagnose.add_argument("--no-figures", action="store_true", help="with --out: tables only")
    diagnose.set_defaults(run=_cmd_diagnose)

    report = commands.add_parser(
        "report",
        help="re-render the report of a saved fit",
        description="Re-render report.md/.html, tables and figures from DIR/fit.nc and the spec\n"
        "copy DIR/spec.toml (edit its [report] section to ask for other return periods,\n"
        "levels, ...).",
        epilog="example:\n  sbp-bayes report results/danish",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("dir", metavar="DIR", help="output folder of 'sbp-bayes fit'")
    report.set_defaults(run=_cmd_report)

    check = commands.add_parser(
        "check",
        help="print the convergence diagnostics; exit status 1 if they fail",
        description="Print R-hat, ESS, divergences and E-BFMI of a saved fit against the standards\n"
        "(R-hat <= 1.01, bulk and tail ESS >= 400, divergences <= 1%, E-BFMI >= 0.3).\n"
        "Exit status 0 when they pass, 1 when they fail.",
        epilog="example:\n  sbp-bayes check results/danish || echo 'not converged'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("dir", metavar="DIR", help="output folder of 'sbp-bayes fit' (or a fit.nc file)")
    check.set_defaults(run=_cmd_check)

    many = commands.add_parser(
        "fit-many",
        help="fit a spec's model to every series of a long CSV on a Dask cluster",
        description="Fit the spec's model separately to every series of a long-format CSV (one row per\n"
        "observation) on a Dask cluster, keeping each finished series in DIR/store at once;\n"
        "rerun the same command after an interruption to fit only what is missing. Writes\n"
        "DIR/summary.csv and DIR/summary.md (one row per series: status, reason, diagnostics,\n"
        "tail parameters, thresholds and the [report] tail answers with intervals),\n"
        "DIR/spec.toml and DIR/store/ (records/*.json, fits/*.nc).",
        epilog="the spec: a static model spec whose [data] names a CSV and its columns:\n"
        "  [data]\n"
        '  path = "gauges.csv"\n'
        '  column = "flow"            # the observations\n'
        '  series_column = "gauge"    # the name of the series each row belongs to\n'
        "[model], [priors.*], [sampler] apply to every series; [report] return_periods,\n"
        "observations_per_period (default 1: periods count observations), var_levels,\n"
        "es_levels, exceedance, ci_prob and tail choose the answers in the summary.\n\n"
        "examples:\n"
        "  sbp-bayes fit-many gauges.toml --out results/gauges\n"
        "      an embedded cluster: one worker process per core\n"
        "  sbp-bayes fit-many gauges.toml --out results/gauges --scheduler tcp://10.0.0.5:8786\n"
        "      an existing cluster (started with 'dask scheduler' and 'dask worker'); DIR must be\n"
        "      on a file system every worker sees at the same path",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    many.add_argument("spec", metavar="SPEC", help="model spec (TOML) with [data] series_column")
    many.add_argument("--out", "-o", metavar="DIR", required=True, help="output folder (created if needed)")
    where = many.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler (default: embedded cluster)",
    )
    where.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes of the embedded cluster (default: cores)",
    )
    many.add_argument(
        "--progress-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="at most one progress line per this many seconds (default 10)",
    )
    _add_sampler_options(many, seed="base random seed", quick=" each")
    many.set_defaults(run=_cmd_fit_many)

    compare = commands.add_parser(
        "compare",
        help="fit several specs of the same data and compare them (LOO, held-out calibration)",
        description="Fit every spec (all of the same data) and compare the models: PSIS-LOO on the\n"
        "fitted data, and with --holdout the log score, CRPS and PP-plot MAE by region on a\n"
        "held-out part of the data. Writes DIR/comparison.csv, DIR/comparison.md,\n"
        "DIR/comparison.png and each fit as DIR/<study name>/fit.nc.",
        epilog="examples:\n"
        "  sbp-bayes compare models/danish_sbp.toml models/danish_normal.toml --out results/cmp\n"
        "  sbp-bayes compare models/danish_*.toml --out results/cmp --holdout 0.2 --seed 1\n"
        "      a peaks-over-threshold spec (danish_pot.toml) is then compared on the held-out\n"
        "      data only: its log-likelihood covers the exceedances, not every observation",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("specs", nargs="+", metavar="SPEC", help="model specs (TOML) of the same data")
    compare.add_argument(
        "--out", "-o", metavar="DIR", required=True, help="output folder (created if needed)"
    )
    compare.add_argument(
        "--holdout",
        type=_holdout_fraction,
        default=0.0,
        metavar="FRACTION",
        help="fraction of the data kept out of every fit and scored afterwards (default 0: LOO only)",
    )
    compare.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="N",
        help="random seed of the held-out split, and of the fits whose spec sets none (recorded)",
    )
    compare.add_argument(
        "--quick",
        action="store_true",
        help=f"a quick look: {QUICK['chains']} chains x {QUICK['draws']} draws ({QUICK['tune']} tuning) each",
    )
    compare.set_defaults(run=_cmd_compare)

    return parser


def _version() -> str:
    from sbp_bayes.persistence import package_version

    return package_version()


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 check failed, 2 bad input)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are written to files, never shown
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, argv)
    except _user_errors() as error:
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
