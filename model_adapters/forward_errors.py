"""The model-call boundary: which backend failures are one sample's fault.

A forward or ``generate`` call that runs out of memory failed because of its inputs' size (a long
clip, a large batch): that is a per-sample :class:`~emorealm.errors.ModelError` (a batch is then
rerun one request at a time, so only the culprit is recorded). Every other exception of a model
call — a shape mismatch, a KeyError, a dtype clash — is a bug and propagates: it stops the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from emorealm.errors import ModelError

# CPU allocators say it in a RuntimeError's message rather than with a type of their own
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MESSAGES)


@contextmanager
def model_call(n_samples: int = 1) -> Iterator[None]:
    """Wrap one model call on ``n_samples`` requests: out of memory becomes a ModelError."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise ModelError(f"the model ran out of memory on {n_samples} sample(s) at once ({exc}); a batch is "
                         "retried one by one; for one sample lower max_frames / max_pixels or use a larger "
                         "device") from exc
