"""Choosing the compute device once: ``auto`` means CUDA when present, else CPU."""

from __future__ import annotations

import torch

from pose3d_cli.errors import BackendUnavailableError, InputError


def select_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None → CUDA if available else CPU; ``"cpu"``; ``"cuda"`` or ``"cuda:N"``.

    Raises :class:`BackendUnavailableError` when CUDA is asked for but absent."""
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendUnavailableError(f"--device {name}: CUDA is not available on this machine "
                                          "(torch built without CUDA or no GPU); use --device cpu or auto")
        return torch.device(name)
    raise InputError(f"unknown --device {name!r}; use auto, cpu, cuda or cuda:N")
