"""How a preparation worker process and the main process exchange values (model_adapters/prefetch_process.py).

Values are pickled; CPU tensors travel as numpy arrays whose data go out of band (pickle protocol 5).
Large buffers go through a file in the worker's spool folder, the rest through the pipe.
Exceptions cross as themselves when they survive a pickle round trip, else as a stand-in.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from typing import Any


class RemoteTraceback(Exception):
    """The worker's traceback, attached as ``__cause__`` of an exception re-raised from it."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)

    def __str__(self) -> str:
        return f"\n\nraised in the preparation worker process:\n{self.args[0]}"


class UnpicklableWorkerError(Exception):
    """An exception raised in the worker that cannot cross the process boundary (not a per-sample error)."""


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives a pickle round trip unchanged in type and text, else a stand-in."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return exc
    except Exception:  # noqa: BLE001 - any failure to round-trip means "not portable"
        pass
    return UnpicklableWorkerError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")


def _tensor_from_numpy(array: Any, dtype: str | None = None) -> Any:
    import torch

    t = torch.from_numpy(array)  # shares the received buffer: no copy
    return t.view(getattr(torch, dtype)) if dtype else t


class _ResultPickler(pickle.Pickler):
    """Pickles CPU tensors as numpy arrays, whose data then go out of band (no serialising copy)."""

    def reducer_override(self, obj: Any) -> Any:
        import sys

        torch = sys.modules.get("torch")
        if torch is None or type(obj) is not torch.Tensor or obj.device.type != "cpu" or obj.requires_grad \
                or obj.is_sparse:
            return NotImplemented
        if not obj.is_contiguous():
            # e.g. a processor's attention mask sliced from a bigger one: torch's own pickling would
            # copy the whole storage in band (a 12 KB mask sent as 1.9 MB, through torch.load)
            obj = obj.contiguous()
        if obj.dtype == torch.bfloat16:  # numpy has no bfloat16: the same bits as int16
            return _tensor_from_numpy, (obj.view(torch.int16).numpy(), "bfloat16")
        try:
            return _tensor_from_numpy, (obj.numpy(),)
        except (TypeError, RuntimeError):  # a dtype numpy lacks: torch's own pickling
            return NotImplemented


SPOOL_MIN_BYTES = 1 << 20  # results with less buffer data than this go through the pipe


def spool_root() -> str:
    """Where worker spool folders go: tmpfs (/dev/shm) when it has room for big clips, else the temp dir."""
    import tempfile

    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= 2 << 30:
            return "/dev/shm"
    except OSError:
        pass
    return tempfile.gettempdir()


_ALIGN = 64  # each buffer starts on a 64-byte boundary of the spool file (aligned tensors)


def _offsets(sizes: list[int]) -> list[int]:
    out, at = [], 0
    for size in sizes:
        out.append(at)
        at += -(-size // _ALIGN) * _ALIGN
    return out


def send_result(conn, ticket: int, status: str, value: Any, spool: str | None = None) -> None:
    """Send ``value`` (pickled; its tensors' data out of band, through a spool file when large)."""
    import io

    buffers: list[pickle.PickleBuffer] = []
    out = io.BytesIO()
    _ResultPickler(out, protocol=5, buffer_callback=buffers.append).dump(value)
    raws = [b.raw() for b in buffers]
    sizes = [r.nbytes for r in raws]
    path = None
    if spool and sum(sizes) >= SPOOL_MIN_BYTES:
        path = os.path.join(spool, f"{ticket}.bin")
        try:
            with open(path, "wb") as fh:
                for raw, at in zip(raws, _offsets(sizes), strict=True):
                    fh.seek(at)
                    fh.write(raw)
        except OSError:  # no room: the pipe still works
            with contextlib.suppress(OSError):
                os.unlink(path)
            path = None
    conn.send_bytes(pickle.dumps((ticket, status, out.getvalue(), sizes, path)))
    if path is None:
        for raw in raws:
            conn.send_bytes(raw)


def recv_result(conn) -> tuple[int, str, Any]:
    """``(ticket, status, value)`` as sent by :func:`send_result`. A spool file is mapped copy-on-write
    (no copy; the tensors keep the mapping alive) and deleted at once."""
    import mmap

    ticket, status, main, sizes, path = pickle.loads(conn.recv_bytes())
    if path is None:
        buffers = [bytearray(size) for size in sizes]  # writable: tensors rebuilt on them are ordinary
        for buf in buffers:
            conn.recv_bytes_into(buf)
    else:
        try:
            with open(path, "rb") as fh:
                mapped = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        offsets = _offsets(sizes)
        if len(mapped) < offsets[-1] + sizes[-1]:
            raise EOFError(f"{path}: result file shorter than announced")
        buffers = [mapped[at:at + size] for at, size in zip(offsets, sizes, strict=True)]
    return ticket, status, pickle.loads(main, buffers=buffers)
