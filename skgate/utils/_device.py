"""One device vocabulary for the experts and the gates: skorch's, plus ``"auto"``."""

import torch


def resolve_device(device, owner="gate"):
    """The torch device of a ``device`` parameter: ``"auto"`` is CUDA when available.

    Raises a ``ValueError`` naming ``owner``'s ``device`` parameter for a string torch
    does not know, or for CUDA on a machine without it, before any training starts.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{owner}'s device={device!r} is not a torch device; expected 'auto', 'cpu', "
            "'cuda' or 'cuda:<index>'."
        ) from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{owner}'s device={device!r} needs CUDA, which is not available on this "
            "machine; use device='auto' (CUDA when available) or 'cpu'."
        )
    return device
