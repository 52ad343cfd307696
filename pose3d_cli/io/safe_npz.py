"""Reading ``.npz`` files that hold pickled dicts, without running pickled code.

The paper's dataset files (``data_3d_*.npz``, ``data_2d_*.npz``) and its custom keypoint files
(``data_2d_custom_*.npz``) store Python dicts inside 0-d object arrays, which ``np.load`` can
only read with ``allow_pickle=True`` — and a pickle can run any code it names. This module reads
them with an unpickler that rebuilds plain data only:

- dicts, lists, tuples, ``str``, ``int``, ``float``, ``bool``, ``None``;
- numpy arrays and scalars of numeric dtype (bool, integer, float), under numpy 1.x
  (``numpy.core``) and 2.x (``numpy._core``) names.

A pickle that names any other global (a function to call, a class to build) is refused before
anything of it runs; a pickle that rebuilds an object array inside the data, or a string array,
is refused after unpickling (nothing ran). Either way the caller gets one
:class:`~pose3d_cli.errors.InputError` line naming the file and the member.

Members that are not pickled (plain numeric or string arrays) are read with
``allow_pickle=False``, as ``np.load`` would.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_cli.errors import InputError

#: Globals a pickled dict-of-arrays needs: array reconstruction, dtypes, numpy scalars, the
#: latin-1 bytes of protocol-2 pickles and OrderedDict (a dict).
_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"), ("collections", "OrderedDict"),
})

#: dtype kinds accepted inside a pickle: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = "biuf"

#: Deepest nesting of containers accepted (the paper's files nest 4 levels).
MAX_DEPTH = 64


class _Refused(Exception):
    """A pickle names a global outside the allow-list (raised before it is resolved)."""


class _PlainDataUnpickler(pickle.Unpickler):
    """Rebuilds only numeric arrays and plain containers; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _Refused(f"{module}.{name}"[:80])


def _check_plain(value: Any) -> str | None:
    """Why ``value`` is not plain data (see the module docstring), or ``None`` when it is."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"containers nested deeper than {MAX_DEPTH} levels"
        if item is None or isinstance(item, (str, bool, int, float)):
            continue
        if isinstance(item, dict):
            for key, val in item.items():
                if not isinstance(key, (str, int)):
                    return f"a dict key of type {type(key).__name__}"
                stack.append((val, depth + 1))
            continue
        if isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
            continue
        if isinstance(item, (np.ndarray, np.generic)):
            if item.dtype.kind not in NUMERIC_KINDS:
                kind = "Python objects" if item.dtype.hasobject else f"dtype {item.dtype}"
                return f"an array of {kind} inside the data"
            continue
        return f"an object of type {type(item).__name__}"
    return None


def load_npz_safe(path: str | Path, *, kind: str = ".npz file", fix: str = "") -> dict[str, Any]:
    """Read every member of an ``.npz``; pickled members through the plain-data unpickler.

    Args:
        path: the ``.npz`` file.
        kind: what the file should be, for messages (e.g. ``"dataset file"``).
        fix: the way out appended to the "not readable" message (e.g. ``"regenerate it with
            `pose3d dataset`"``).
    Returns:
        member name → ``np.ndarray`` (members stored as arrays) or the unpickled object (0-d
        object arrays are unwrapped to their item, e.g. the ``positions_2d`` dict).
    Raises:
        InputError: the file is missing, not an ``.npz``, truncated, or holds pickled objects
        other than plain data (one line naming the file and the member).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {kind} not found; check the path")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; give a {kind} (.npz)")
    tail = f"; {fix}" if fix else ""
    out: dict[str, Any] = {}
    key = ""
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if not member.endswith(".npy"):
                    continue
                key = member[:-4]
                with zf.open(member) as fp:
                    version = np.lib.format.read_magic(fp)
                    if version == (1, 0):
                        _, _, dtype = np.lib.format.read_array_header_1_0(fp)
                    else:
                        _, _, dtype = np.lib.format.read_array_header_2_0(fp)
                    if dtype.hasobject:
                        arr = _PlainDataUnpickler(fp, encoding="latin1").load()
                        out[key] = _unwrap(path, key, arr)
                        continue
                with zf.open(member) as fp:
                    out[key] = np.lib.format.read_array(fp, allow_pickle=False)
    except _Refused as exc:
        raise InputError(f"{path}: refused to load member {key!r}: its pickle names {exc}, which "
                         "could run code; only dicts, lists, numbers, strings and numeric arrays "
                         "are read from a pickled .npz (use a file from a trusted source or "
                         "re-export it as plain data)") from None
    except InputError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, TypeError, KeyError, IndexError,
            AttributeError, pickle.UnpicklingError, UnicodeDecodeError, OverflowError,
            RecursionError, MemoryError) as exc:
        where = f" (member {key!r})" if key else ""
        text = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {text[0][:120]}" if text else type(exc).__name__
        raise InputError(f"{path}: not a readable {kind}{where} ({reason}){tail}") from None
    return out


def _unwrap(path: Path, key: str, arr: Any) -> Any:
    """The item of a 0-d object array, checked to be plain data."""
    if not isinstance(arr, np.ndarray) or arr.ndim != 0:
        shape = getattr(arr, "shape", None)
        raise InputError(f"{path}: member {key!r} is an object array of shape {shape}, not a pickled "
                         "dict or list; only 0-d object arrays (np.savez of a dict) are read")
    item = arr.item()
    why = _check_plain(item)
    if why is not None:
        raise InputError(f"{path}: refused to load member {key!r}: it holds {why}; only dicts, "
                         "lists, numbers, strings and numeric arrays are read from a pickled .npz")
    return item
