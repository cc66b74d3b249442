"""Choosing the torch device, with a clear error when CUDA is asked for but absent."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``"cpu"`` or ``"cuda"`` as a :class:`torch.device`; ``None`` picks CUDA when present.

    Raises
    ------
    ValueError
        Any other name, or ``"cuda"`` when ``torch.cuda.is_available()`` is False.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = device.type if isinstance(device, torch.device) else device
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got device={device!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but torch.cuda.is_available() is False")
    return torch.device(device)
