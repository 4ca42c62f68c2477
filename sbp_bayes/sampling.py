"""NUTS for every model of the package, with compiled models reused across processes.

:func:`sample` runs NUTS on a PyMC model with one of :data:`SAMPLERS`. With nutpie
(the default) the log density, its gradient and the function that expands a draw
into all trace variables are compiled to machine code by numba; that compilation
costs 10-20 s and the sampling itself about a second, so the compiled code is kept:

- in memory, for later fits of the same structure in the same process;
- on disk, under :func:`cache_dir`, for every later process.

The cache key is a fingerprint of the model's graph (operations, constants, prior
parameters, parameter shapes and the *types* of the data containers, never the data
values) and of the versions of this package, nutpie, numba, llvmlite, PyTensor,
PyMC, NumPy, Python and the host CPU. Two fits whose models differ only in their
data share the compiled code: data travel to the compiled function as pointers.

Why not numba's own cache: nutpie wraps PyTensor's functions in C callbacks that
close over per-process random names (``uuid4``) and over the data arrays, so numba's
cache key (a hash of the closure's contents) differs in every process and the
callbacks, which hold most of the compilation time, are compiled again each time.
PyTensor's own functions *are* found in its cache; they are not the cost.

The disk cache is safe to share: entries are written to a temporary file and renamed
into place (readers never see half an entry), a file lock per entry makes concurrent
processes (two command-line runs, pytest-xdist workers) compile a structure once, and
every entry carries a SHA-256 digest and its full key, checked on load; an entry that
fails either check is deleted and compiled again. Entries are pickles: keep the
directory private to the user, as for any cache of executable code.

The same seed gives the same draws whether the code was compiled in this process or
loaded from the cache: the stored code carries its own copies of every function it
calls, bound inside it, and never to functions that other code loaded into the process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import platform
import sys
import tempfile
import types
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = [
    "CACHE_DIR_VARIABLE",
    "SAMPLERS",
    "CacheStatistics",
    "Uncacheable",
    "cache_dir",
    "cache_statistics",
    "check_sampler",
    "check_sampler_settings",
    "clear_cache",
    "compile_nutpie",
    "model_fingerprint",
    "sample",
]

#: ``"auto"`` lets :func:`sbp_bayes.fit` choose (quadrature for the default SBP fit, nutpie
#: otherwise); ``"quadrature"`` applies only to that fit, every model here is sampled by NUTS.
SAMPLERS = ("auto", "nutpie", "pymc", "numpyro", "quadrature")
#: Environment variable naming the directory of the compiled-model cache.
CACHE_DIR_VARIABLE = "SBP_BAYES_CACHE_DIR"
#: Bumped whenever the layout of a cache entry, or the way its code is built, changes
#: (2: the callbacks' copies of the functions they call have names of their own, see
#: _self_contained).
_ENTRY_FORMAT = 2
_MAGIC = b"sbp_bayes compiled model\n"
_MEMORY_MAX = 8
_LOCK_TIMEOUT_S = 900

_logger = logging.getLogger(__name__)
_MEMORY: OrderedDict[str, _Compiled] = OrderedDict()


@dataclass
class CacheStatistics:
    """Where this process's nutpie models came from (counts since start or :func:`clear_cache`)."""

    memory_hits: int = 0
    disk_hits: int = 0
    compiled: int = 0
    rebuilt: int = 0  # disk entries found corrupted or inconsistent, deleted and compiled again
    uncacheable: int = 0  # models compiled without the disk cache (see compile_nutpie)


_STATISTICS = CacheStatistics()


def cache_statistics() -> CacheStatistics:
    """Counts of memory hits, disk hits, compilations and rebuilt entries in this process.

    Examples
    --------
    >>> from sbp_bayes.sampling import cache_statistics
    >>> stats = cache_statistics()
    >>> stats.compiled >= 0 and stats.disk_hits >= 0
    True
    """
    return replace(_STATISTICS)


def cache_dir() -> Path:
    """The directory of the compiled-model cache.

    ``$SBP_BAYES_CACHE_DIR`` when set, otherwise the user's cache directory
    (``~/.cache/sbp_bayes`` on Linux, ``~/Library/Caches/sbp_bayes`` on macOS,
    ``%LOCALAPPDATA%\\sbp_bayes\\Cache`` on Windows). Deleting it is always safe.

    Examples
    --------
    >>> from sbp_bayes.sampling import cache_dir
    >>> cache_dir().name != ""
    True
    """
    override = os.environ.get(CACHE_DIR_VARIABLE)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sbp_bayes", appauthor=False))


def clear_cache(*, memory: bool = True, disk: bool = False) -> None:
    """Forget compiled models: those held in memory, and with ``disk=True`` the disk cache too.

    Examples
    --------
    >>> from sbp_bayes.sampling import cache_statistics, clear_cache
    >>> clear_cache()
    >>> cache_statistics().memory_hits
    0
    """
    global _STATISTICS
    if memory:
        _MEMORY.clear()
        _STATISTICS = CacheStatistics()
    if disk:
        import shutil

        shutil.rmtree(cache_dir() / _entries_folder(), ignore_errors=True)


# ----------------------------------------------------------------------------- samplers


def check_sampler(sampler: str) -> None:
    """Raise a clear error unless ``sampler`` is one of :data:`SAMPLERS` and installed.

    Examples
    --------
    >>> from sbp_bayes.sampling import check_sampler
    >>> check_sampler("pymc")
    >>> check_sampler("stan")
    Traceback (most recent call last):
    ...
    ValueError: sampler must be one of auto, nutpie, pymc, numpyro, quadrature; got 'stan'.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}.")
    needed = {"nutpie": ["nutpie"], "numpyro": ["numpyro", "jax"]}.get(sampler, [])
    for module in needed:
        try:
            __import__(module)
        except ImportError:
            raise ImportError(
                f"sampler={sampler!r} needs the package {module!r}, which is not installed. "
                f"Install it (pip install 'sbp_bayes[numpyro]' for numpyro) or use sampler='pymc'."
            ) from None


def check_sampler_settings(draws, tune, chains) -> None:
    """Refuse sampler settings that cannot give a posterior, before anything is compiled.

    ``draws`` and ``chains`` must be positive integers, ``tune`` a non-negative one.

    Examples
    --------
    >>> check_sampler_settings(1000, 1000, 4)
    >>> check_sampler_settings(0, 1000, 4)
    Traceback (most recent call last):
    ...
    ValueError: draws must be a positive integer (draws kept per chain, e.g. 1000); got 0.
    """
    wanted = {
        "draws": (draws, 1, "draws kept per chain, e.g. 1000"),
        "tune": (tune, 0, "tuning steps per chain, e.g. 1000"),
        "chains": (chains, 1, "independent chains, e.g. 4"),
    }
    for name, (value, smallest, meaning) in wanted.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < smallest:
            kind = "a positive" if smallest == 1 else "a non-negative"
            raise ValueError(f"{name} must be {kind} integer ({meaning}); got {value!r}.")


def sample(model, sampler: str = "nutpie", *, draws, tune, chains, seed, progressbar) -> xr.DataTree:
    """Run NUTS on ``model``; return a DataTree with ``posterior`` and ``sample_stats``.

    Parameters
    ----------
    model : pymc.Model
        Any PyMC model of continuous free variables.
    sampler : {"nutpie", "pymc", "numpyro", "auto"}
        NUTS implementation (``"auto"`` is nutpie). nutpie reuses compiled code (see
        :func:`compile_nutpie`).
    draws, tune, chains : int
        Draws kept and tuning steps per chain, and the number of chains.
    seed : int
        Seed of the sampler.
    progressbar : bool
        Show the sampler's progress bar.

    Examples
    --------
    >>> import pymc as pm
    >>> from sbp_bayes.sampling import sample
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    >>> idata = sample(model, draws=100, tune=100, chains=2, seed=1,
    ...                progressbar=False)  # doctest: +SKIP
    >>> idata["posterior"]["mu"].shape  # doctest: +SKIP
    (2, 100)
    """
    import pymc as pm

    if sampler == "quadrature":
        raise ValueError(
            "sampler='quadrature' applies only to the default SBP fit (cross-validation threshold "
            "weights); this model is sampled by NUTS: use sampler='auto', 'nutpie', 'pymc' or 'numpyro'."
        )
    if sampler in ("auto", "nutpie"):
        return _sample_nutpie(
            model, draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar
        )
    with model:
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            random_seed=seed,
            progressbar=progressbar,
            nuts_sampler=sampler,
            compute_convergence_checks=False,
        )
    return xr.DataTree.from_dict(
        {"posterior": idata["posterior"].to_dataset(), "sample_stats": idata["sample_stats"].to_dataset()}
    )


def _sample_nutpie(model, *, draws, tune, chains, seed, progressbar):
    import nutpie

    trace = nutpie.sample(
        compile_nutpie(model),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        progress_bar=progressbar,
        save_warmup=False,
        # A dense (low-rank) mass matrix follows the xi-sigma correlation and the
        # threshold mixture's modes along it: ~1.6x the ESS of a diagonal one (Danish).
        adaptation="low_rank",
    )
    stats = trace["sample_stats"].to_dataset()
    drop = [name for name, var in stats.data_vars.items() if var.dtype == object]
    return xr.DataTree.from_dict(
        {"posterior": trace["posterior"].to_dataset(), "sample_stats": stats.drop_vars(drop)}
    )


# ----------------------------------------------------------------------------- fingerprint


class Uncacheable(Exception):
    """The model's graph holds something whose identity a fingerprint cannot capture."""


def _versions() -> dict[str, str]:
    import llvmlite
    import numba
    import nutpie
    import pymc as pm
    import pytensor
    from numba.core.registry import cpu_target

    from sbp_bayes.persistence import package_version

    return {
        "format": str(_ENTRY_FORMAT),
        "sbp_bayes": package_version(),
        "nutpie": nutpie.__version__,
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "pytensor": pytensor.__version__,
        "pymc": pm.__version__,
        "numpy": np.__version__,
        "python": sys.version,
        "machine": platform.machine(),
        # Machine code is compiled for the host CPU (name and features).
        "cpu": repr(cpu_target.target_context.codegen().magic_tuple()),
    }


class _GraphHasher:
    """SHA-256 of a PyTensor graph's structure: data containers by name and type only."""

    def __init__(self):
        self.ids: dict[int, int] = {}
        self.shared: dict[str, object] = {}
        self.digest = hashlib.sha256()

    def add(self, *parts) -> None:
        self.digest.update(repr(parts).encode())
        self.digest.update(b"\x00")

    def value(self, value) -> str:
        from pytensor.graph.basic import Variable
        from pytensor.graph.fg import FunctionGraph
        from pytensor.graph.op import Op

        if isinstance(value, Op) or isinstance(getattr(type(value), "__props__", None), tuple):
            return self.op(value)  # operations, and objects that define equality by __props__
        if isinstance(value, FunctionGraph):
            return self.graph(value.outputs, value.inputs)
        if isinstance(value, Variable):
            return self.graph([value])
        if isinstance(value, np.ndarray | np.generic):
            array = np.ascontiguousarray(value)
            return f"array({array.dtype.str},{array.shape},{hashlib.sha256(array.tobytes()).hexdigest()})"
        if isinstance(value, tuple | list):
            return f"{type(value).__name__}({','.join(self.value(item) for item in value)})"
        if isinstance(value, dict):
            return f"dict({','.join(f'{self.value(k)}:{self.value(v)}' for k, v in value.items())})"
        if value is None or isinstance(value, bool | int | float | complex | str | bytes | np.dtype):
            return repr(value)
        if isinstance(value, types.FunctionType):  # code from a versioned package, and its closure
            cells = tuple(cell.cell_contents for cell in value.__closure__ or ())
            code = hashlib.sha256(value.__code__.co_code).hexdigest()
            return f"function {value.__module__}.{value.__qualname__}[{code}]({self.value(cells)})"
        text = repr(value)
        if " at 0x" in text or " object>" in text:
            raise Uncacheable(f"no structural identity for {type(value).__qualname__}")
        return f"{type(value).__module__}.{type(value).__qualname__}:{text}"

    def op(self, op) -> str:
        from pytensor.compile.builders import OpFromGraph

        name = f"{type(op).__module__}.{type(op).__qualname__}"
        if isinstance(op, OpFromGraph):
            return f"{name}[{self.graph(op.inner_outputs, op.inner_inputs)}]"
        props = getattr(op, "__props__", None)
        if props is None:  # e.g. scalar operations: equal when their types and attributes are
            state = sorted((key, value) for key, value in vars(op).items() if not key.startswith("__"))
            return f"{name}{{{','.join(f'{key}={self.value(value)}' for key, value in state)}}}"
        return f"{name}({','.join(f'{p}={self.value(getattr(op, p))}' for p in props)})"

    def graph(self, outputs, inputs=()) -> str:
        """Hash the graph of ``outputs``; return the hex digest of this (sub)graph."""
        from pytensor.graph.basic import Constant
        from pytensor.graph.traversal import io_toposort
        from pytensor.tensor.sharedvar import SharedVariable

        sub = _GraphHasher()
        sub.shared = self.shared
        order = {}

        def ref(var):
            if var not in order:
                order[var] = len(order)
                if isinstance(var, Constant):
                    sub.add("constant", str(var.type), sub.value(var.data))
                elif isinstance(var, SharedVariable):
                    if not var.name:
                        if "RandomGenerator" in type(var.type).__name__:
                            sub.add("rng", str(var.type))
                            return order[var]
                        raise Uncacheable("a shared variable without a name")
                    known = self.shared.setdefault(var.name, var)
                    if known is not var:
                        raise Uncacheable(f"two shared variables named {var.name!r}")
                    sub.add("shared", var.name, str(var.type), var.type.shape)
                else:
                    sub.add("input", var.name, str(var.type), getattr(var.type, "shape", None))
            return order[var]

        for var in inputs:
            ref(var)
        for node in io_toposort(list(inputs), list(outputs)):
            in_ids = [ref(var) for var in node.inputs]
            sub.add("apply", sub.op(node.op), in_ids, [str(out.type) for out in node.outputs])
            for out in node.outputs:
                order[out] = len(order)
        sub.add("outputs", [ref(var) for var in outputs])
        return sub.digest.hexdigest()


@dataclass(frozen=True)
class _Layout:
    """How nutpie lays the model's variables out in its flat arrays."""

    names: tuple[str, ...]  # free value variables, then the other trace variables
    shapes: tuple[tuple[int, ...], ...]
    n_free: int  # how many of ``names`` are free value variables

    @property
    def slices(self) -> list[slice]:
        out, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape, dtype=int))
            out.append(slice(start, start + size))
            start += size
        return out

    def size(self, names) -> int:
        return sum(int(np.prod(shape, dtype=int)) for shape in self.shapes[: len(names)])


def _layout(model, trace_variables) -> _Layout:
    free = [model.rvs_to_values[var].name for var in model.free_RVs]
    others = [var for var in trace_variables if var.name not in free]
    names = free + [var.name for var in others]
    static = [model.rvs_to_values[var].type.shape for var in model.free_RVs]
    static += [var.type.shape for var in others]
    shapes = [tuple(shape) for shape in static]
    unknown = [i for i, shape in enumerate(static) if any(dim is None for dim in shape)]
    if unknown and unknown[0] < len(free):  # parameters sized by the data: as nutpie does
        from nutpie.compile_pymc import _compute_shapes

        computed = _compute_shapes(model)
        shapes = [computed[name] for name in names]
    elif unknown:  # trace variables sized by the data: evaluate them
        shapes_of = _evaluate_shapes(model, [others[i - len(free)] for i in unknown])
        for i, shape in zip(unknown, shapes_of, strict=True):
            shapes[i] = shape
    return _Layout(tuple(names), tuple(tuple(int(d) for d in shape) for shape in shapes), len(free))


def _evaluate_shapes(model, variables) -> list[tuple[int, ...]]:
    """Shapes of trace variables at the model's current data.

    The shape graphs are first reduced by PyTensor's shape inference (they then read the
    data containers' shapes only) and run in pure Python: 0.1 s, against 0.5-1.5 s for
    compiling the variables themselves.
    """
    import pytensor
    from pytensor.compile.mode import Mode
    from pytensor.graph import rewrite_graph
    from pytensor.link.basic import PerformLinker

    # clone=True: rewriting in place would alter the model's own graph.
    shapes = rewrite_graph([var.shape for var in variables], include=("ShapeOpt", "canonicalize"), clone=True)
    givens = [(value, np.zeros(value.type.shape, dtype=value.dtype)) for value in model.value_vars]
    function = pytensor.function(
        [], shapes, givens=givens, mode=Mode(linker=PerformLinker(), optimizer=None), on_unused_input="ignore"
    )
    with np.errstate(all="ignore"):
        return [tuple(int(d) for d in shape) for shape in function()]


def _fingerprint(model) -> tuple[str, dict[str, object], _Layout]:
    hasher = _GraphHasher()
    trace_variables = list(model.unobserved_value_vars)
    layout = _layout(model, trace_variables)
    value_vars = [model.rvs_to_values[var] for var in model.free_RVs]
    hasher.add("versions", sorted(_versions().items()))
    hasher.add("layout", layout.names, layout.shapes, layout.n_free)
    hasher.add("check_bounds", bool(model.check_bounds))
    hasher.add("logp", hasher.graph([model.logp()], value_vars))
    hasher.add("trace", hasher.graph(trace_variables, value_vars))
    hasher.add("transformed", sorted(var.name for var in model.free_RVs if model.rvs_to_transforms.get(var)))
    return hasher.digest.hexdigest(), dict(hasher.shared), layout


def model_fingerprint(model) -> str:
    """Key of the compiled code of ``model`` in the cache.

    The key covers everything that changes the compiled log density, gradient and
    trace expansion (the graph, with its constants and prior parameters, the layout of
    the parameters, the data containers' names, dtypes and static shapes, the package
    and dependency versions), never the data values.

    Raises
    ------
    Uncacheable
        When the graph holds an operation or constant whose identity cannot be captured.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> from sbp_bayes.sampling import model_fingerprint
    >>> def build(data, prior_sigma=1.0):
    ...     with pm.Model() as model:
    ...         y = pm.Data("y", data)
    ...         mu = pm.Normal("mu", 0.0, prior_sigma)
    ...         pm.Normal("obs", mu, 1.0, observed=y)
    ...     return model
    >>> model_fingerprint(build(np.zeros(3))) == model_fingerprint(build(np.ones(5)))
    True
    >>> model_fingerprint(build(np.zeros(3))) == model_fingerprint(build(np.zeros(3), prior_sigma=2.0))
    False
    """
    return _fingerprint(model)[0]


# ----------------------------------------------------------------------------- compiled code


@dataclass
class _NativeFunction:
    """A compiled C callback: its address and the numba objects that keep it alive."""

    address: int
    compile_result: object


@dataclass
class _Compiled:
    logp: _NativeFunction
    expand: _NativeFunction
    shared_names: tuple[str, ...]
    shared_ndims: tuple[int, ...]
    shared_dtypes: tuple[str, ...]
    layout: _Layout


def _shared_keys(n: int) -> list[str]:
    # Fixed names (nutpie uses random ones): the record layout of the data pointers is
    # part of the compiled code, and must be the same in the process that loads it.
    return [f"shared{i}" for i in range(n)]


def _record(names, arrays) -> np.ndarray:
    from nutpie.compile_pymc import make_user_data

    class _Named:  # make_user_data reads ``.ndim`` of the variables it is given
        def __init__(self, ndim):
            self.ndim = ndim

    keys = _shared_keys(len(names))
    return make_user_data(
        {_Named(a.ndim): k for k, a in zip(keys, arrays, strict=True)}, dict(zip(keys, arrays, strict=True))
    )


class _SaveInto:
    """numba's cache protocol for one C callback: keep the compile result we are given."""

    def __init__(self):
        self.result = None

    def load_overload(self, sig, target_context):
        return None

    def save_overload(self, sig, cres):
        self.result = cres


def _compile_callback(pyfunc, sig) -> _NativeFunction:
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    callback = CFunc(pyfunc, sigutils.normalize_signature(sig), locals={}, options={})
    callback._cache = _SaveInto()  # numba's hook for cfunc(cache=True); we store it ourselves
    callback.compile()
    cres = _self_contained(callback._cache.result)
    return _NativeFunction(cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name), cres)


def _self_contained(cres):
    """``cres`` rebuilt so that its machine code calls only its own copies of its functions.

    numba links the code of every function a callback calls into the callback's module
    with weak (``linkonce_odr``) linkage, under names that PyTensor's numba cache keeps
    the same in every process. The JIT binds a weak name to the first definition loaded
    in the process: in the process that compiles, the functions PyTensor compiled (or
    loaded from its cache) on the way; in a process that loads our entry, our own copies,
    optimised once more inside the callback. Both compute the same values but not the
    same last bits (other inlining, other fused multiply-adds), so NUTS trajectories, and
    the draws for one seed, differed between the two kinds of process.

    The copies are renamed with a digest of the module: no other code defines those names,
    so they bind to this code wherever it is loaded (loaded twice, to the same code). Their
    linkage stays weak. Internal linkage, tried first, made the draws agree too, but a
    PyMC sampler run after such a model was loaded crashed (segmentation fault in a
    PyTensor function calling numba's ``cumsum``): the optimiser may change the calling
    convention of internal functions, and the JIT apparently still bound the PyTensor
    function's call, by name, to our changed copy.
    """
    from numba.core.compiler_lock import global_compiler_lock

    entry = cres.fndesc.llvm_cfunc_wrapper_name
    module = cres.library._final_module.clone()
    digest = hashlib.sha256(str(module).encode()).hexdigest()[:16]
    for function in module.functions:
        if not function.is_declaration and function.name != entry:
            function.name = f"{function.name}.sbp_bayes.{digest}"
    with global_compiler_lock:
        library = cres.library.codegen.create_library(cres.library.name)
        library.enable_object_caching()  # so that the entry can be serialised (_serialize)
        library.add_llvm_module(module)
        library.finalize()
    return cres._replace(library=library)


def _compile(model, layout: _Layout, shared: dict[str, object]) -> _Compiled:
    import numba
    from nutpie.compile_pymc import _make_c_expand_func, _make_c_logp_func, _make_functions

    n_free, n_expanded, logp_fn, expand_fn, _, shape_info, _ = _make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=lambda seed: {},
    )
    if tuple(shape_info[0]) != layout.names or [tuple(s) for s in shape_info[2]] != list(layout.shapes):
        raise RuntimeError("nutpie laid the model's variables out differently than expected.")
    variables = list(dict.fromkeys([*logp_fn.get_shared(), *expand_fn.get_shared()]))
    names = tuple(var.name for var in variables)
    if any(shared.get(name) is not var for name, var in zip(names, variables, strict=True)):
        raise Uncacheable("the compiled functions use shared variables outside the model's graph")
    keys = dict(zip(variables, _shared_keys(len(variables)), strict=True))
    # Typing templates only (empty arrays of the right dtype and rank): no data in the code.
    templates = {keys[var]: np.zeros((0,) * var.ndim, dtype=var.dtype) for var in variables}
    record = _record(names, list(templates.values()))
    logp_py, logp_sig = _make_c_logp_func(
        n_free, logp_fn.vm.jit_fn, record, [keys[v] for v in logp_fn.get_shared()], templates
    )
    expand_py, expand_sig = _make_c_expand_func(
        n_free, n_expanded, expand_fn.vm.jit_fn, record, [keys[v] for v in expand_fn.get_shared()], templates
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaWarning)
        logp = _compile_callback(logp_py, logp_sig)
        expand = _compile_callback(expand_py, expand_sig)
    return _Compiled(
        logp,
        expand,
        names,
        tuple(var.ndim for var in variables),
        tuple(str(var.dtype) for var in variables),
        layout,
    )


def _serialize(compiled: _Compiled) -> bytes | None:
    parts = {}
    for name in ("logp", "expand"):
        cres = getattr(compiled, name).compile_result
        # Code holding addresses of this process's objects cannot be reloaded.
        if cres is None or cres.library.has_dynamic_globals or cres.lifted:
            return None
        parts[name] = cres._reduce()
    from numba.core.serialize import dumps

    return dumps(
        {
            **parts,
            "shared": (compiled.shared_names, compiled.shared_ndims, compiled.shared_dtypes),
            "layout": compiled.layout,
        }
    )


def _deserialize(body: bytes) -> _Compiled:
    from numba.core.compiler import CompileResult
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    content = pickle.loads(body)
    functions = {}
    context = cpu_target.target_context
    with global_compiler_lock:
        # As numba's own cache does: initialise the runtime (NRT) whose symbols the code calls.
        context.refresh()
        for name in ("logp", "expand"):
            cres = CompileResult._rebuild(context, *content[name])
            address = cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)
            if not address:
                raise ValueError(f"the {name} callback is missing from the entry")
            functions[name] = _NativeFunction(address, cres)
    return _Compiled(functions["logp"], functions["expand"], *content["shared"], content["layout"])


# ----------------------------------------------------------------------------- disk cache


def _entries_folder() -> str:
    return f"nutpie-{_ENTRY_FORMAT}"


def _entry_path(key: str) -> Path:
    return cache_dir() / _entries_folder() / key[:2] / f"{key}.bin"


def _read_entry(path: Path, key: str) -> _Compiled | None:
    """The entry at ``path``, None when absent; a damaged entry is deleted (and None returned)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        _logger.info("cannot read the cache entry %s (%s); compiling", path, error)
        return None
    header = len(_MAGIC) + 64 + 1 + len(key) + 1
    digest = raw[len(_MAGIC) : len(_MAGIC) + 64]
    stored_key = raw[len(_MAGIC) + 65 : header - 1]
    body = raw[header:]
    try:
        if not raw.startswith(_MAGIC) or stored_key != key.encode():
            raise ValueError("header or key does not match")
        if hashlib.sha256(body).hexdigest().encode() != digest:
            raise ValueError("checksum does not match")
        return _deserialize(body)
    except Exception as error:  # any damage means: compile again
        _logger.warning("cache entry %s is damaged (%s); compiling it again", path, error)
        _STATISTICS.rebuilt += 1
        path.unlink(missing_ok=True)
        return None


def _write_entry(path: Path, key: str, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(body).hexdigest().encode()
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
        handle.write(_MAGIC + digest + b"\n" + key.encode() + b"\n")
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)  # atomic: readers see the old entry or the whole new one


def _load_or_compile(model, key: str, layout: _Layout, shared: dict) -> _Compiled:
    from filelock import FileLock, Timeout

    path = _entry_path(key)
    compiled = _read_entry(path, key)
    if compiled is not None:
        _STATISTICS.disk_hits += 1
        return compiled
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock", timeout=_LOCK_TIMEOUT_S)
        lock.acquire()
    except (OSError, Timeout) as error:
        _logger.info("compiled-model cache unavailable (%s); compiling without it", error)
        _STATISTICS.compiled += 1
        return _compile(model, layout, shared)
    try:
        compiled = _read_entry(path, key)  # another process may have written it meanwhile
        if compiled is not None:
            _STATISTICS.disk_hits += 1
            return compiled
        compiled = _compile(model, layout, shared)
        _STATISTICS.compiled += 1
        body = _serialize(compiled)
        if body is None:
            _STATISTICS.uncacheable += 1
        else:
            try:
                _write_entry(path, key, body)
            except OSError as error:
                _logger.info("cannot write the cache entry %s (%s)", path, error)
        return compiled
    finally:
        lock.release()


def compile_nutpie(model):
    """nutpie's compiled model for ``model``, from memory, from disk or compiled now.

    Returns a ``nutpie.compile_pymc.CompiledPyMCModel`` carrying ``model``'s current
    data, ready for ``nutpie.sample``. A model whose graph cannot be fingerprinted (an
    operation without ``__props__``, a shared variable without a unique name) is
    compiled by nutpie directly, without any cache.

    Examples
    --------
    >>> import pymc as pm, nutpie
    >>> from sbp_bayes.sampling import compile_nutpie
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu")
    >>> compiled = compile_nutpie(model)  # doctest: +SKIP
    >>> trace = nutpie.sample(compiled, draws=100, tune=100, chains=1,
    ...                       progress_bar=False)  # doctest: +SKIP
    """
    import nutpie
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        _rv_dict_to_flat_array_wrapper,
        _wrap_with_lock,
    )
    from pymc.initial_point import make_initial_point_fn

    try:
        key, shared, layout = _fingerprint(model)
    except Uncacheable as reason:
        _logger.info("compiling without cache: %s", reason)
        _STATISTICS.uncacheable += 1
        _STATISTICS.compiled += 1
        return nutpie.compile_pymc_model(model)
    compiled = _MEMORY.get(key)
    if compiled is None:
        compiled = _load_or_compile(model, key, layout, shared)
        _MEMORY[key] = compiled
        while len(_MEMORY) > _MEMORY_MAX:
            _MEMORY.popitem(last=False)
    else:
        _STATISTICS.memory_hits += 1
        _MEMORY.move_to_end(key)

    if compiled.layout != layout:  # guaranteed by the key
        raise RuntimeError("the compiled code lays the parameters out differently than the model")
    variables = [shared[name] for name in compiled.shared_names]
    data = []
    for var, ndim, dtype in zip(variables, compiled.shared_ndims, compiled.shared_dtypes, strict=True):
        value = np.array(var.get_value(), dtype=dtype, order="C", copy=True)
        if value.ndim != ndim:  # guaranteed by the key; a mismatch would read memory wrongly
            raise RuntimeError(f"data {var.name!r} has rank {value.ndim}, the compiled code expects {ndim}")
        value.flags.writeable = False
        data.append(value)
    keys = _shared_keys(len(variables))
    # As nutpie: support points jittered by U(-1, 1); nutpie calls it from several threads.
    initial_point = _wrap_with_lock(
        make_initial_point_fn(
            model=model,
            jitter_rvs=set(model.free_RVs),
            default_strategy="support_point",
            return_transformed=True,
        )
    )
    free_names = list(layout.names[: layout.n_free])
    free_shapes = list(layout.shapes[: layout.n_free])
    shape_info = (list(layout.names), layout.slices, [list(s) for s in layout.shapes])
    reparameterized = [model.rvs_to_values[v].name for v in model.free_RVs if model.rvs_to_transforms.get(v)]
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized)
    return CompiledPyMCModel(
        _n_dim=layout.size(free_names),
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, shape in zip(layout.names, layout.shapes, strict=True)},
        compiled_logp_func=compiled.logp,
        compiled_expand_func=compiled.expand,
        initial_point_func=_rv_dict_to_flat_array_wrapper(
            initial_point, names=free_names, shapes=free_shapes
        ),
        shared_data=dict(zip(keys, data, strict=True)),
        shared_var_keys=dict(zip(variables, keys, strict=True)),
        user_data=_record(compiled.shared_names, data),
        n_expanded=layout.size(layout.names),
        shape_info=shape_info,
        logp_func=None,
        expand_func=None,
        reparameterized_names=reparameterized,
    )
