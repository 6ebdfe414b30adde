"""Process settings for a training or scoring run: threads, determinism,
memory reuse. torch keeps these process-wide, so each is restored on exit.
"""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch

__all__ = ["SMALL_GRAPH_LINKS", "pick_threads", "torch_settings"]

#: Below this many links one CPU thread is faster than two.
SMALL_GRAPH_LINKS = 100_000


def pick_threads(threads: int | None, n_links: int) -> int:
    """``threads`` if given, else 2, or 1 for graphs under 100,000 links."""
    if threads is not None:
        return threads
    return 1 if n_links < SMALL_GRAPH_LINKS else 2


@contextmanager
def torch_settings(threads: int) -> Iterator[None]:
    """Thread count and deterministic kernels for one training or scoring run.

    Both settings are process-wide in torch, so they are restored on exit.
    On CUDA, kernels without a deterministic version only warn. Freed
    memory is kept for reuse meanwhile (see :func:`_keep_freed_memory`).
    """
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with _keep_freed_memory():
            yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.set_num_threads(old_threads)


# glibc mallopt parameters and their defaults
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


@contextmanager
def _keep_freed_memory() -> Iterator[None]:
    """Let glibc reuse freed tensor memory instead of returning it.

    Every epoch allocates the same few dozen account-sized tensors. glibc
    serves blocks that large with fresh ``mmap`` pages and unmaps them on
    free, so each epoch pays a page fault per 4 KiB (about half the CPU time
    of an epoch at 200,000 accounts). Serving them from the heap and not
    trimming it makes later epochs reuse the same pages. The settings are
    restored and the heap trimmed on exit. Elsewhere than glibc this does
    nothing.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM)
        libc.malloc_trim(0)


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None

