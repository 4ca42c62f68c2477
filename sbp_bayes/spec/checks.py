"""Checks of spec values: each turns a TOML value into a Python one or raises :class:`Invalid`.

A check is a function of one value; :class:`SpecKey` pairs it with the key's default, and
:func:`checked` turns an :class:`Invalid` into a :class:`SpecError` that names the file,
the section and the key. The message helpers (:func:`show`, :func:`closest`, ...) keep
every error of a spec in one voice; :func:`check_csv` and :func:`check_covariates` check
that the columns a spec names are in its CSV file, and :func:`spec_advice` retells a
message of the Python API in the words of a spec.

Examples
--------
>>> checked("study.toml", "[sampler]", "draws", SpecKey(integer(1)), 0)
Traceback (most recent call last):
...
sbp_bayes.spec.SpecError: study.toml: [sampler] draws must be a positive integer, got 0
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["Invalid", "SpecError", "SpecKey", "checked", "spec_advice"]


class SpecError(ValueError):
    """A model spec is invalid. The message is one line: ``file: [section] key ...``."""


# Users catch it as sbp_bayes.spec.SpecError; tracebacks and doctests show that name.
SpecError.__module__ = "sbp_bayes.spec"


class Invalid(Exception):
    """Raised by a key check; the text continues "<key> ..." (e.g. "must be ..., got ...")."""


# ----------------------------------------------------------------------------- key checks

_TOML_TYPES = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array"}


def type_name(value) -> str:
    if isinstance(value, dict):
        return "a table"
    return _TOML_TYPES.get(type(value), f"a {type(value).__name__}")


def show(value) -> str:
    """A value as it would be written in TOML (strings in double quotes)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    return repr(value)


def wrong_type(expected: str, value) -> Invalid:
    return Invalid(f"must be {expected}, got {show(value)} ({type_name(value)})")


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def closest(name: str, options) -> str:
    match = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def text_check(value):
    if not isinstance(value, str):
        raise wrong_type("a string", value)
    return value


def name_check(value):
    if not isinstance(value, str):
        raise wrong_type("a non-empty string", value)
    if not value.strip():
        raise Invalid("must be a non-empty string, got an empty string")
    return value


def integer(minimum: int) -> Callable:
    what = "a positive integer" if minimum == 1 else "a non-negative integer"

    def check(value):
        if isinstance(value, float) and value.is_integer():
            raise Invalid(f"must be {what}, got {value!r} (a float; write it without a decimal point)")
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong_type(what, value)
        if value < minimum:
            raise Invalid(f"must be {what}, got {value}")
        return value

    return check


def real(what: str = "a number", *, above: float | None = None, below: float | None = None) -> Callable:
    """A finite number, optionally strictly between ``above`` and ``below``."""

    def check(value):
        if not is_number(value):
            raise wrong_type(what, value)
        if not math.isfinite(value):
            raise Invalid(f"must be {what}, got {value!r}")
        if (above is not None and value <= above) or (below is not None and value >= below):
            raise Invalid(f"must be {what}, got {value!r}")
        return float(value)

    return check


positive = real("a positive number", above=0.0)
probability = real("a probability strictly between 0 and 1", above=0.0, below=1.0)


def choice(*options: str) -> Callable:
    listed = ", ".join(f'"{o}"' for o in options)

    def check(value):
        if not isinstance(value, str):
            raise wrong_type(f"one of {listed}", value)
        if value not in options:
            raise Invalid(f"must be one of {listed}, got {show(value)}{closest(value, options)}")
        return value

    return check


def number_list(item: Callable, what: str, *, increasing: bool = False, empty: bool = True) -> Callable:
    """A list of numbers checked by ``item``; a single number is read as a one-element list."""

    def check(value):
        items = [value] if is_number(value) else value
        if not isinstance(items, list):
            raise wrong_type(f"a list of {what}", value)
        try:
            converted = [item(entry) for entry in items]
        except Invalid:
            raise Invalid(f"must be a list of {what}, got {show(value)}") from None
        if not converted and not empty:
            raise Invalid(f"must be a non-empty list of {what}, got []")
        if increasing and any(b <= a for a, b in itertools.pairwise(converted)):
            raise Invalid(f"must be a strictly increasing list of {what}, got {show(value)}")
        return converted

    return check


def threshold_check(value):
    """A fixed threshold (number) or the candidate thresholds (increasing list)."""
    if is_number(value):
        return real()(value)
    if isinstance(value, list):
        return number_list(real(), "numbers", increasing=True, empty=False)(value)
    raise wrong_type("a number (fixed threshold) or a list of numbers (candidates)", value)


def bins_check(value):
    if is_number(value):
        return integer(1)(value)
    if isinstance(value, list):
        return number_list(real(), "numbers", increasing=True, empty=False)(value)
    raise wrong_type("a positive integer (number of bins) or a list of interior bin edges", value)


def extremal_index_check(value):
    """A method name or a fixed extremal index in (0, 1]."""
    from sbp_bayes.clusters import EXTREMAL_INDEX_METHODS

    listed = ", ".join(f'"{m}"' for m in EXTREMAL_INDEX_METHODS)
    if isinstance(value, str):
        if value not in EXTREMAL_INDEX_METHODS:
            raise Invalid(
                f"must be one of {listed} or a number in (0, 1], got {show(value)}"
                f"{closest(value, EXTREMAL_INDEX_METHODS)}"
            )
        return value
    if not is_number(value):
        raise wrong_type(f"one of {listed} or a number in (0, 1]", value)
    if not 0.0 < value <= 1.0:
        raise Invalid(f"must be a number in (0, 1] (1 = no clustering), got {value!r}")
    return float(value)


def decluster_check(value):
    """A run length, or a table with threshold, run_length and tail."""
    if is_number(value):
        return integer(1)(value)
    if not isinstance(value, dict):
        raise wrong_type("a run length (positive integer) or a table {threshold, run_length, tail}", value)
    allowed = {"threshold": real(), "run_length": integer(1), "tail": choice("upper", "lower")}
    out = {}
    for key, item in value.items():
        if key not in allowed:
            raise Invalid(
                f"has unknown key {key!r}{closest(key, allowed)} (keys: threshold, run_length, tail)"
            )
        try:
            out[key] = allowed[key](item)
        except Invalid as problem:
            raise Invalid(f"{key} {problem}") from None
    return out


def weights_check(value):
    if isinstance(value, str):
        if value != "uniform":
            raise Invalid(f'must be "uniform" or a list of non-negative weights, got {show(value)}')
        return value
    what = 'the string "uniform" or a list of non-negative weights'
    if not isinstance(value, list):
        raise wrong_type(what, value)
    weights = number_list(real("a non-negative number", above=None), "non-negative numbers", empty=False)(
        value
    )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise Invalid(f"must be {what} with a positive sum, got {show(value)}")
    return weights


def column_names(value):
    """A list of distinct column names (a single name is read as a one-element list)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise wrong_type("a list of column names", value)
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise Invalid(f"names the column {repeated[0]!r} twice")
    return list(items)


@dataclass(frozen=True)
class SpecKey:
    check: Callable
    default: object = None


def checked(source: str, section: str, key: str, spec_key: SpecKey, value):
    try:
        return spec_key.check(value)
    except Invalid as problem:
        raise SpecError(f"{source}: {section} {key} {problem}") from None


def one_line(error) -> str:
    return " ".join(str(error).split())


def comma_list(names) -> str:
    return ", ".join(names)


def as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def check_csv(
    source: str, path: Path, column: str, time_column: str | None, series_column: str | None = None
) -> None:
    if not path.is_file():
        raise SpecError(f"{source}: [data] path: no file {path}")
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SpecError(f"{source}: [data] path: cannot read {path} as CSV: {one_line(error)}") from None
    for key, name in (("column", column), ("time_column", time_column), ("series_column", series_column)):
        if name is not None and name not in header:
            raise SpecError(
                f"{source}: [data] {key} {name!r} is not in {path.name}{closest(name, header)} "
                f"(columns: {comma_list(map(str, header))})"
            )


def check_covariates(source: str, path: Path, column: str, time_column: str | None, covariates) -> None:
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise SpecError(f"{source}: [data] path: cannot read {path} as CSV: {one_line(error)}") from None
    others = [name for name in header if name not in (column, time_column)]
    for name in covariates:
        if name not in header:
            raise SpecError(
                f"{source}: [dynamic] covariates {name!r} is not in {path.name}{closest(name, others)} "
                f"(columns: {comma_list(map(str, header))})"
            )


def spec_advice(message: str, keys) -> str:
    """A message of the Python API retold for a spec: ``pass name='value'`` becomes
    ``set name = "value" in [model]`` for each ``[model]`` key ``name`` in ``keys``.

    Examples
    --------
    >>> spec_advice("Remove them, or pass nan_policy='omit' to drop them.", ["nan_policy"])
    'Remove them, or set nan_policy = "omit" in [model] to drop them.'
    >>> spec_advice("use fewer bins (e.g. bins=3).", ["bins"])
    'use fewer bins (e.g. bins = 3 in [model]).'
    """
    names = "|".join(re.escape(name) for name in sorted(keys, key=len, reverse=True))
    if not names:
        return message
    pattern = re.compile(rf"\b(?:pass |use )?({names})=(?:'([^']*)'|([^\s,;)']+))")

    def toml(match) -> str:
        verb = "set " if match.group(0).startswith(("pass ", "use ")) else ""
        value = f'"{match.group(2)}"' if match.group(2) is not None else match.group(3)
        return f"{verb}{match.group(1)} = {value} in [model]"

    return pattern.sub(toml, message)
