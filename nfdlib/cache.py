"""A result cache under ``data/``: JSON or ``.npz`` files keyed by the full configuration and a code version.

Long computations (full-mode sweeps) are stored with the configuration that made them, so a notebook shows
them in seconds and recomputes them when anything in the configuration or the code version changes::

    result = cached("lr_sweep_depth_mup", config, lambda: run_sweep(**config), version="2")

* The file name carries a hash of ``(name, config, version)``; the file itself stores the configuration too.
* Writes are atomic (a temporary file in the same folder, then a rename).
* A corrupt file, or one whose stored configuration does not match, is recomputed with a warning.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMATS = ("json", "npz")


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
    blob = json.dumps({"name": name, "config": _jsonable(config), "version": str(version)}, sort_keys=True)
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


def _load(path: Path, fmt: str) -> tuple[dict, object]:
    if fmt == "json":
        with open(path) as fh:
            stored = json.load(fh)
        return stored["meta"], stored["result"]
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        result = {k: z[k] for k in z.files if k != "__meta__"}
    return meta, result


def _save(path: Path, fmt: str, meta: dict, result) -> None:
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
    _atomic_write(path, lambda fh: np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays), binary=True)


def cached(name: str, config: dict, compute: Callable[[], object], *, version: str, fmt: str = "json",
           directory: str | Path | None = None, refresh: bool = False):
    """Return ``compute()``'s result for ``config``, from ``data/`` when a matching file exists.

    ``config`` must be JSON-serializable (numbers, strings, lists, dicts); it should hold every setting that
    changes the result. ``version`` is bumped by hand when the code that computes the result changes.
    ``refresh=True`` recomputes and overwrites.
    """
    path = cache_path(name, config, version, fmt, directory)
    meta = {"name": name, "config": _jsonable(config), "version": str(version)}
    if path.exists() and not refresh:
        try:
            stored_meta, result = _load(path, fmt)
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed, never trusted
            warnings.warn(f"cache file {path} is unreadable ({type(err).__name__}: {err}); recomputing",
                          stacklevel=2)
        else:
            if stored_meta == meta:
                return result
            warnings.warn(f"cache file {path} holds another configuration or version; recomputing", stacklevel=2)
    result = compute()
    _save(path, fmt, meta, result)
    # Read back what was written, so a first run and a cached run return identical types (lists, not tuples).
    return _load(path, fmt)[1]
