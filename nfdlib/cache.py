"""A result cache under ``data/``: JSON or ``.npz`` files keyed by the full configuration and a code version.

Long computations (full-mode sweeps) are stored with the configuration that made them, so a notebook shows
them in seconds and recomputes them when anything in the configuration or the code version changes::

    result = cached("lr_sweep_depth_mup", config, lambda: run_sweep(**config), version="2")

* The file name carries a hash of ``(name, config, version)``; the file itself stores the configuration too.
* Writes are atomic (a temporary file in the same folder, then a rename).
* A corrupt file, or one whose stored configuration does not match, is recomputed with a warning. A file that
  lacks an array (or a JSON key) its computation must return counts as corrupt.
* Each cached computation is registered (:func:`register_kind`: a name prefix, its version constant, the arrays
  it must hold), so that :func:`check_file` can tell whether a stored file is readable, complete and current
  (``tests/test_cache.py`` runs it on every file under ``data/``; golden tests there compute a tiny
  configuration of every kind and compare it with a stored reference, so a change of the numbers fails until
  the version constant is bumped).
* Never pickle: JSON for records and small results, ``.npz`` (with ``allow_pickle=False``) for arrays.

The folder is ``$NFD_DATA_DIR`` if set, else the repository's ``data/`` (when the package runs from a
checkout), else ``~/.cache/nfdlib``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMATS = ("json", "npz")
# Keys of the stored metadata that identify a result; later additions (the list of arrays) are not compared.
_IDENTITY = ("name", "config", "version")


@dataclass(frozen=True)
class CacheKind:
    """One cached computation: files whose name starts with ``prefix``, written at ``version`` in ``fmt``, that
    must hold ``required`` (array names of an ``.npz``; keys of a JSON dict result)."""

    prefix: str
    version: str
    fmt: str
    required: tuple[str, ...] = ()


KINDS: dict[str, CacheKind] = {}


def register_kind(prefix: str, version: str, fmt: str, required: Sequence[str] = ()) -> CacheKind:
    """Declare a cached computation (called by the module that computes it, next to its version constant)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    kind = CacheKind(str(prefix), str(version), fmt, tuple(required))
    KINDS[kind.prefix] = kind
    return kind


def kind_of(name: str) -> CacheKind | None:
    """The registered kind whose prefix is the longest one that ``name`` starts with (``None`` if none)."""
    matches = [k for p, k in KINDS.items() if name.startswith(p)]
    return max(matches, key=lambda k: len(k.prefix)) if matches else None


def data_dir() -> Path:
    """The folder the cache reads and writes."""
    env = os.environ.get("NFD_DATA_DIR")
    if env:
        return Path(env)
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if repo_data.is_dir():
        return repo_data
    return Path.home() / ".cache" / "nfdlib"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def config_key(name: str, config: dict, version: str) -> str:
    """A short hash of everything that determines a cached result."""
    try:
        blob = json.dumps({"name": name, "config": _jsonable(config), "version": str(version)}, sort_keys=True)
    except TypeError as err:  # a set, a tensor, a function: nothing that keys a file reproducibly
        raise ValueError(f"config must hold only numbers, strings, lists and dicts (JSON), got {config!r}: {err}") \
            from err
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(name: str, config: dict, version: str, fmt: str = "json", directory: str | Path | None = None) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"name must use only letters, digits, '_', '-' and '.', got {name!r}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    directory = Path(directory) if directory is not None else data_dir()
    return directory / f"{name}-{config_key(name, config, version)}.{fmt}"


def _atomic_write(path: Path, write: Callable[[object], None], binary: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_file(path: str | Path, fmt: str | None = None) -> tuple[dict, object]:
    """``(meta, result)`` of one stored file (``fmt`` from its suffix when ``None``)."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    if fmt == "json":
        with open(path) as fh:
            stored = json.load(fh)
        return stored["meta"], stored["result"]
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        result = {k: z[k] for k in z.files if k != "__meta__"}
    return meta, result


def _missing(meta: dict, result, fmt: str, required: Sequence[str]) -> list[str]:
    """Names the result should hold and does not: those listed when it was written, and ``required``."""
    if not isinstance(result, dict):
        return list(required) if required else []
    expected = set(required) | set(meta.get("arrays", ()))
    return sorted(k for k in expected if k not in result)


def save_file(path: Path, fmt: str, meta: dict, result) -> None:
    """Write ``result`` with ``meta`` under a unique temporary name, then rename it to ``path`` atomically."""
    if fmt == "json":
        payload = {"meta": meta, "result": _jsonable(result)}
        _atomic_write(path, lambda fh: json.dump(payload, fh, indent=1), binary=False)
        return
    if not isinstance(result, dict) or "__meta__" in result:
        raise ValueError("an npz cache needs compute() to return a dict of arrays (no key '__meta__')")
    arrays = {k: np.asarray(v) for k, v in result.items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise ValueError(f"array {k!r} has dtype object; npz caches store numeric arrays only")
    meta = {**meta, "arrays": sorted(arrays)}
    _atomic_write(path, lambda fh: np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays), binary=True)


def cached(name: str, config: dict, compute: Callable[[], object], *, version: str, fmt: str = "json",
           directory: str | Path | None = None, refresh: bool = False, required: Sequence[str] | None = None):
    """Return ``compute()``'s result for ``config``, from ``data/`` when a matching file exists.

    ``config`` must be JSON-serializable (numbers, strings, lists, dicts); it should hold every setting that
    changes the result. ``version`` is bumped by hand when the code that computes the result changes (the golden
    tests of ``tests/test_cache.py`` fail until it is). ``refresh=True`` recomputes and overwrites. A stored file
    that lacks one of ``required`` (default: the ``required`` of the registered kind of ``name``) or of the arrays
    it was written with is corrupt: it is recomputed with a warning, never returned in part.
    """
    if not isinstance(refresh, bool):
        raise ValueError(f"refresh must be True or False, got {refresh!r}")
    path = cache_path(name, config, version, fmt, directory)
    meta = {"name": name, "config": _jsonable(config), "version": str(version)}
    if required is None:
        kind = kind_of(name)
        required = kind.required if kind is not None else ()
    if path.exists() and not refresh:
        try:
            stored_meta, result = load_file(path, fmt)
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed, never trusted
            warnings.warn(f"cache file {path} is unreadable ({type(err).__name__}: {err}); recomputing",
                          stacklevel=2)
        else:
            missing = _missing(stored_meta, result, fmt, required)
            if {k: stored_meta.get(k) for k in _IDENTITY} != meta:
                warnings.warn(f"cache file {path} holds another configuration or version; recomputing", stacklevel=2)
            elif missing:
                warnings.warn(f"cache file {path} is incomplete (missing {missing}); recomputing", stacklevel=2)
            else:
                return result
    result = compute()
    missing = _missing({}, result, fmt, required)
    if missing:
        raise ValueError(f"compute() for {name!r} returned no {missing}")
    save_file(path, fmt, meta, result)
    # Read back what was written, so a first run and a cached run return identical types (lists, not tuples).
    return load_file(path, fmt)[1]


def check_file(path: str | Path) -> list[str]:
    """Problems of one stored cache file (an empty list when it is fine): unreadable, of no registered kind,
    written at another version than the kind's current one, or missing an array it must hold. How
    ``tests/test_cache.py`` catches stale caches in CI without recomputing them."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    if fmt not in FORMATS:
        return [f"{path.name}: not a cache file (.json or .npz)"]
    try:
        meta, result = load_file(path, fmt)
    except Exception as err:  # noqa: BLE001 - report, do not raise
        return [f"{path.name}: unreadable ({type(err).__name__}: {err})"]
    problems = []
    name = meta.get("name", "")
    kind = kind_of(name)
    if kind is None:
        return [f"{path.name}: no registered cached computation has a prefix of {name!r}"]
    if kind.fmt != fmt:
        problems.append(f"{path.name}: stored as {fmt}, kind {kind.prefix!r} is {kind.fmt}")
    if str(meta.get("version")) != kind.version:
        problems.append(f"{path.name}: version {meta.get('version')!r}, current {kind.version!r} (stale)")
    if path.name != cache_path(name, meta.get("config", {}), meta.get("version", ""), fmt, path.parent).name:
        problems.append(f"{path.name}: the file name does not match the hash of its configuration")
    missing = _missing(meta, result, fmt, kind.required)
    if missing:
        problems.append(f"{path.name}: missing {missing}")
    return problems
