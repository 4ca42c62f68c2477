"""TOML text from a spec's sections: the writer behind :meth:`Spec.to_toml` and
``sbp-bayes init``, the inverse of :func:`tomllib.loads` for the values a spec holds.

Examples
--------
>>> sections = {"data": {"dataset": "danish"}, "priors": {"upper_xi": {"dist": "Normal", "sigma": 0.5}}}
>>> print(dumps_toml(sections))
[data]
dataset = "danish"
<BLANKLINE>
[priors.upper_xi]
dist = "Normal"
sigma = 0.5
<BLANKLINE>
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

__all__ = ["dumps_toml", "toml_value"]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(sections: Mapping, comment: str | None = None) -> str:
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    for section, values in sections.items():
        scalars = {key: value for key, value in values.items() if not isinstance(value, Mapping)}
        tables = {key: value for key, value in values.items() if isinstance(value, Mapping)}
        if scalars or not tables:
            lines += ["", f"[{section}]"] + [f"{key} = {toml_value(value)}" for key, value in scalars.items()]
        for name, table in tables.items():
            lines += ["", f"[{section}.{name}]"] + [
                f"{key} = {toml_value(value)}" for key, value in table.items()
            ]
    return "\n".join(lines).lstrip("\n") + "\n"
