"""One file format for every kind of fit: :func:`save` and :func:`load`.

A fit is written as one netCDF file holding an :class:`xarray.DataTree`: the groups of
the fit's ``idata`` (``posterior``, ``sample_stats``, ``observed_data``, ...), whatever
else the kind needs to rebuild itself (a dynamic fit's modelled columns, a two-stage
fit's innovations as a nested tree, a pooled fit's long data), and in the root's
attributes:

* ``sbp_bayes_kind`` — ``"static"``, ``"dynamic"`` or ``"pooled"`` (:data:`KINDS`);
* ``sbp_bayes_version`` — the sbp_bayes version that wrote the file;
* the kind's metadata as JSON under its key (:data:`META_KEYS`): configuration,
  design, data index and attributes.

Files written before the kind and version attributes existed (static and dynamic fits)
are recognised by their metadata key and still load. A file of another kind than asked
for, a file that sbp_bayes did not write, or one written by a newer sbp_bayes than the
one reading it, raise a :class:`FitFileError` that says which.

Each result class (a subclass of :class:`sbp_bayes.results.FitResult`) turns itself
into a tree (``to_datatree``) and back (``from_datatree``) and is registered here by its
``kind`` when its class is defined, so this module depends on no result class. No
temporary file is ever written: nested fits are groups of the same tree.

Examples
--------
>>> from importlib.resources import as_file, files
>>> import sbp_bayes
>>> from sbp_bayes.persistence import FitFileError
>>> with as_file(files("sbp_bayes.datasets") / "danish_fit.nc") as path:
...     try:
...         sbp_bayes.load(path, kind="dynamic")
...     except FitFileError as error:
...         print("refused:", "static" in str(error))
refused: True
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import xarray as xr
from packaging.version import InvalidVersion, Version

__all__ = [
    "DERIVED_GROUPS",
    "KINDS",
    "KIND_ATTR",
    "META_KEYS",
    "VERSION_ATTR",
    "FitFileError",
    "from_tree",
    "json_default",
    "load",
    "own_attrs",
    "package_version",
    "read_meta",
    "register_kind",
    "save",
    "stored_kind",
    "subtree_groups",
    "with_metadata",
]

#: The kinds of fit a file can hold.
KINDS = ("static", "dynamic", "pooled")
#: Root attribute naming the kind of fit in a file.
KIND_ATTR = "sbp_bayes_kind"
#: Root attribute holding the sbp_bayes version that wrote the file.
VERSION_ATTR = "sbp_bayes_version"
#: Root attribute holding each kind's metadata (JSON); the static and dynamic keys are
#: those of the first file formats, so old files are recognised by them.
META_KEYS = {"static": "sbp_bayes", "dynamic": "sbp_bayes_dynamic", "pooled": "sbp_bayes_pooled"}
#: Groups derived from the draws and the data, N times larger than the draws: left out
#: of a saved file unless asked for (recompute them after loading).
DERIVED_GROUPS = ("log_likelihood", "posterior_predictive")

_READERS: dict[str, Callable[[xr.DataTree], object]] = {}


class FitFileError(ValueError):
    """A file that cannot be read as the fit asked for; the message says why."""


def package_version() -> str:
    """The installed sbp_bayes version (``"0+unknown"`` in a source tree that was never
    installed): the one definition every module and saved file uses.

    Examples
    --------
    >>> from sbp_bayes.persistence import package_version
    >>> import sbp_bayes
    >>> package_version() == sbp_bayes.__version__
    True
    """
    try:
        return version("sbp_bayes")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def register_kind(kind: str, reader: Callable[[xr.DataTree], object]) -> None:
    """Make ``reader(tree)`` the way to rebuild fits of ``kind`` (called for each result
    class when it is defined; see :class:`sbp_bayes.results.FitResult`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    _READERS[kind] = reader


def json_default(value):
    """JSON for the numpy values and configuration objects found in a fit's metadata.

    Examples
    --------
    >>> import json, numpy as np
    >>> from sbp_bayes.persistence import json_default
    >>> json.dumps({"edges": np.array([0.0, 1.5]), "n": np.int64(3)}, default=json_default)
    '{"edges": [0.0, 1.5], "n": 3}'
    """
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "to_config"):  # priors and designs
        return value.to_config()
    raise TypeError(f"cannot save {type(value).__name__} in a fit's metadata")


def with_metadata(tree: xr.DataTree, kind: str, meta: dict) -> xr.DataTree:
    """``tree`` with the root attributes of a saved fit of ``kind``: its metadata as JSON,
    the kind and the version that wrote it (``meta["version"]`` when the fit records the
    version that made it, else this one)."""
    written = meta.get("version") or package_version()
    tree.attrs = {
        **tree.attrs,
        META_KEYS[kind]: json.dumps(meta, default=json_default),
        KIND_ATTR: kind,
        VERSION_ATTR: str(written),
    }
    return tree


def stored_kind(attrs) -> str | None:
    """The kind of fit whose root attributes are ``attrs`` (None if sbp_bayes did not write
    them): the ``sbp_bayes_kind`` attribute, or for older files the metadata key present.

    Examples
    --------
    >>> from sbp_bayes.persistence import stored_kind
    >>> stored_kind({"sbp_bayes_kind": "pooled"}), stored_kind({"sbp_bayes_dynamic": "{}"})
    ('pooled', 'dynamic')
    >>> stored_kind({"sbp_bayes": "{}"}), stored_kind({"title": "something else"})
    ('static', None)
    """
    if KIND_ATTR in attrs:
        return str(attrs[KIND_ATTR])
    for kind in ("dynamic", "pooled", "static"):  # "sbp_bayes" last: the plainest key
        if META_KEYS[kind] in attrs:
            return kind
    return None


def own_attrs(attrs) -> dict:
    """``attrs`` without the attributes this module writes (metadata, kind, version).

    Examples
    --------
    >>> from sbp_bayes.persistence import own_attrs
    >>> own_attrs({"sbp_bayes_kind": "static", "sbp_bayes": "{}", "created_at": "2026-01-01"})
    {'created_at': '2026-01-01'}
    """
    written = {*META_KEYS.values(), KIND_ATTR, VERSION_ATTR}
    return {key: value for key, value in attrs.items() if key not in written}


def read_meta(node: xr.DataTree, kind: str) -> dict:
    """The JSON metadata of a saved fit of ``kind`` at ``node``."""
    return json.loads(node.attrs[META_KEYS[kind]])


def subtree_groups(tree: xr.DataTree, prefix: str) -> dict[str, xr.Dataset]:
    """``{path: Dataset}`` of every node of ``tree`` under ``prefix`` (root attributes
    included), for nesting one fit inside another's file with ``DataTree.from_dict``.

    Examples
    --------
    >>> import xarray as xr
    >>> from sbp_bayes.persistence import subtree_groups
    >>> groups = {"/": xr.Dataset(attrs={"k": "v"}), "/posterior": xr.Dataset({"x": 1.0})}
    >>> inner = xr.DataTree.from_dict(groups)
    >>> outer = xr.DataTree.from_dict(subtree_groups(inner, "/innovations"))
    >>> sorted(outer["innovations"].children), outer["innovations"].attrs
    (['posterior'], {'k': 'v'})
    """
    groups = {}
    for node in tree.subtree:
        relative = node.relative_to(tree)
        path = prefix if relative == "." else f"{prefix}/{relative}"
        dataset = node.to_dataset(inherit=False)
        groups[path] = dataset.assign_attrs(dict(node.attrs)) if relative == "." else dataset
    return groups


def _check_version(written, where: str) -> None:
    current = package_version()
    if written is None or current.startswith("0+unknown"):
        return  # a source tree that was never installed cannot order versions
    try:
        newer = Version(str(written)) > Version(current)
    except InvalidVersion:  # e.g. a hand-made fit's "test": nothing to order by
        return
    if newer:
        raise FitFileError(
            f"{where} was written by sbp_bayes {written}, newer than this sbp_bayes {current}; "
            f"upgrade sbp_bayes (pip install -U sbp_bayes) to read it."
        )


def from_tree(node: xr.DataTree, *, kind: str | None = None, where: str = "the tree"):
    """Rebuild the fit stored at ``node`` (a whole file's tree or a nested group).

    Raises :class:`FitFileError` when the node holds no sbp_bayes fit, a fit of another
    ``kind`` than asked for, or one written by a newer sbp_bayes.
    """
    found = stored_kind(node.attrs)
    if found is None:
        what = "a fit" if kind is None else f"a {kind} fit"
        raise FitFileError(
            f"{where} is not {what} saved by sbp_bayes (no {KIND_ATTR!r} or {META_KEYS['static']!r} "
            "metadata); save fits with fit.save(path) or sbp_bayes.save(fit, path)."
        )
    if kind is not None and found != kind:
        raise FitFileError(
            f"{where} holds a {found} fit, not a {kind} one; read it with sbp_bayes.load(path)."
        )
    if found not in _READERS:
        raise FitFileError(f"{where} holds a fit of unknown kind {found!r}; known kinds: {', '.join(KINDS)}.")
    written = node.attrs.get(VERSION_ATTR, read_meta(node, found).get("version"))
    _check_version(written, where)
    return _READERS[found](node)


def save(fit, path, *, include_derived: bool = False) -> Path:
    """Write ``fit`` (any kind) to one netCDF file and return its path.

    The pointwise log-likelihood and posterior predictive (:data:`DERIVED_GROUPS`) are
    left out unless ``include_derived``. Read the file back with :func:`load`.

    Examples
    --------
    >>> import tempfile, pathlib, sbp_bayes
    >>> fit = sbp_bayes.datasets.load_example_fit()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     again = sbp_bayes.load(sbp_bayes.save(fit, pathlib.Path(folder) / "fit.nc"))
    >>> bool((again.posterior["upper_xi"] == fit.posterior["upper_xi"]).all())
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = fit.to_datatree(include_derived=include_derived)
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def load(path, *, kind: str | None = None):
    """Read a fit of any kind written by :func:`save` (or a fit's ``save``): an
    :class:`~sbp_bayes.SBPFit`, :class:`~sbp_bayes.DynamicFit` or
    :class:`~sbp_bayes.PooledFit`, as the file says.

    Parameters
    ----------
    path : str or Path
    kind : {"static", "dynamic", "pooled"}, optional
        Insist on this kind: a file of another kind raises :class:`FitFileError`.

    Examples
    --------
    >>> from importlib.resources import as_file, files
    >>> import sbp_bayes
    >>> with as_file(files("sbp_bayes.datasets") / "danish_fit.nc") as path:
    ...     fit = sbp_bayes.load(path)
    >>> fit.n_draws, fit.data.attrs["units"]
    (1000, 'million DKK')
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, not {kind!r}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No saved fit at {path}; save one with fit.save(path).")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf")
    except (OSError, ValueError) as error:
        raise FitFileError(f"{path} is not a netCDF file sbp_bayes can read ({error}).") from None
    with tree:
        tree = tree.load()
    return from_tree(tree, kind=kind, where=str(path))
