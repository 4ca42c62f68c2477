"""The ``sbp-bayes`` command line: fit a model spec, re-render its report, check a fit.

``sbp-bayes fit SPEC --out DIR`` fits the model a spec describes (``models/*.toml``, see
:mod:`sbp_bayes.spec`) and writes into ``DIR``: ``fit.nc`` (the saved fit), ``spec.toml``
(a copy of the spec with the settings and seed actually used, so it reproduces the fit),
``report.md`` / ``report.html``, ``tables/*.csv`` and ``figures/*.png``.
``sbp-bayes report DIR`` re-renders the report; ``sbp-bayes check DIR`` prints the
convergence diagnostics and exits with status 1 when they fail.

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

exit status: 0 success, 1 diagnostics failed (check), 2 bad input (spec, data, folder).
A model spec is a TOML file with sections [study], [data], [model], [priors.*],
[threshold_priors], [sampler] and [report]; see models/danish.toml.
"""


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2, no traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from sbp_bayes.distributions import InvalidParameterError
    from sbp_bayes.model import DataError
    from sbp_bayes.priors import PriorError
    from sbp_bayes.spec import SpecError

    return (UserError, SpecError, DataError, PriorError, InvalidParameterError)


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
    from sbp_bayes.fit import load

    try:
        return load(fit_file)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{fit_file}: cannot read the saved fit: {_one_line(error)}") from None


def _require_sampler(name: str) -> None:
    from sbp_bayes.fit import _check_sampler

    try:
        _check_sampler(name)
    except ImportError as error:
        raise UserError(_one_line(error)) from None


def _command_line(argv: list[str]) -> str:
    return " ".join([PROG, *(shlex.quote(arg) for arg in argv)])


# ----------------------------------------------------------------------------- commands


def _cmd_fit(args, argv) -> int:
    from sbp_bayes.spec import load_spec

    spec = load_spec(args.spec)
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
    if spec.sampler.random_seed is None and "random_seed" not in changes:
        # Record a seed so that the spec copy in the output folder reproduces this fit.
        changes["random_seed"] = secrets.randbelow(2**31)
    spec = spec.with_sampler(**changes)
    _require_sampler(spec.sampler.name)

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder")

    _stage(f"loading data: {spec.data.describe()}")
    data = spec.load_data()
    sampler = spec.sampler
    _stage(
        f"compiling and sampling: {len(data)} observations, {sampler.chains} chains x {sampler.draws} draws "
        f"(+{sampler.tune} tuning), {sampler.name}, seed {sampler.random_seed}"
    )
    started = time.perf_counter()
    fit = spec.fit(data, progressbar=sys.stderr.isatty())
    _stage(f"sampled in {time.perf_counter() - started:.0f} s")

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
    from sbp_bayes.render import write_report

    report = write_report(fit, spec, out_dir, command=command, on_problem=lambda m: _stage(f"warning: {m}"))
    diagnostics = _diagnostics(fit)
    print(f"Fit saved to {fit_file}")
    print(f"Report: {report} (and {report.with_suffix('.html')}); tables in {out_dir / 'tables'}")
    print(str(diagnostics).splitlines()[0])
    for problem in diagnostics.problems:
        print(f"- {problem}")
    if not diagnostics.passed:
        print(f"Do not use these results yet: see the report, or run 'sbp-bayes check {out_dir}'.")
    return EXIT_OK


def _diagnostics(fit):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own warnings repeat what the report says
        return fit.check(warn=False)


def _cmd_report(args, argv) -> int:
    from sbp_bayes.render import write_report
    from sbp_bayes.spec import load_spec

    out_dir, fit_file = _fit_folder(args.dir)
    _stage(f"loading the fit {fit_file}")
    fit = _load_fit(fit_file)
    spec_file = out_dir / "spec.toml"
    spec = None
    if spec_file.is_file():
        # The data are in fit.nc: the data file named by the spec need not exist any more.
        spec = load_spec(spec_file, check_data=False)
    else:
        _stage(f"warning: no {spec_file}; using the default report settings")
    _stage("writing the report (tables and figures)")
    report = write_report(
        fit, spec, out_dir, command=_command_line(argv), on_problem=lambda m: _stage(f"warning: {m}")
    )
    print(f"Report: {report} (and {report.with_suffix('.html')})")
    return EXIT_OK


def _cmd_check(args, argv) -> int:
    _out_dir, fit_file = _fit_folder(args.dir)
    diagnostics = _diagnostics(_load_fit(fit_file))
    print(diagnostics)
    return EXIT_OK if diagnostics.passed else EXIT_CHECK_FAILED


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands fit, report, check)."""
    from sbp_bayes.fit import SAMPLERS

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Bayesian spliced binned-Pareto models of heavy-tailed data:\n"
        "from a model spec (TOML) to a fit, a report and its diagnostics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fit = commands.add_parser(
        "fit",
        help="fit a model spec; save the fit and write the report",
        description="Fit the model a spec describes and write into the output folder: fit.nc,\n"
        "spec.toml (the spec with the settings and seed used), report.md/.html,\n"
        "tables/*.csv and figures/*.png.",
        epilog="example:\n  sbp-bayes fit models/danish.toml --out results/danish --quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("spec", metavar="SPEC", help="model spec (TOML), e.g. models/danish.toml")
    fit.add_argument("--out", "-o", metavar="DIR", required=True, help="output folder (created if needed)")
    settings = fit.add_argument_group("sampler settings (override the spec's [sampler] section)")
    settings.add_argument("--draws", type=_positive_int, metavar="N", help="draws per chain")
    settings.add_argument("--tune", type=_non_negative_int, metavar="N", help="tuning steps per chain")
    settings.add_argument("--chains", type=_positive_int, metavar="N", help="number of chains")
    settings.add_argument("--seed", type=_non_negative_int, metavar="N", help="random seed")
    settings.add_argument("--sampler", choices=SAMPLERS, help="NUTS implementation")
    settings.add_argument(
        "--quick",
        action="store_true",
        help=f"a quick look: {QUICK['chains']} chains x {QUICK['draws']} draws "
        f"({QUICK['tune']} tuning); --draws/--tune/--chains still win",
    )
    fit.set_defaults(run=_cmd_fit)

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

    # ------------------------------------------------------------------ compare (issue 5)
    # `sbp-bayes compare SPEC [SPEC ...] --out DIR` fits several specs on the same data and
    # writes a comparison report (LOO, calibration, tail answers side by side). It is added
    # here as one more subparser with `set_defaults(run=_cmd_compare)`; not implemented yet.
    # ---------------------------------------------------------------------------------------

    return parser


def _version() -> str:
    from sbp_bayes import __version__

    return __version__


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
