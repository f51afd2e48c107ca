"""Worker processes for work split across cores (imputation chains, the fits of each completed
data set): spawned, never forked (Polars and numba keep thread pools that a fork would copy
mid-state), and single-threaded inside, so that n workers on n cores do not each start
BLAS and numba threads that then wait on one another — with OpenBLAS's spinning threads two
workers on two cores ran slower than one process alone."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes, each limited to one BLAS and one numba thread;
    at the end of the block, work not started is cancelled and the processes are told to
    exit, without waiting for them (they hold no results by then)."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread)
    try:
        yield pool
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def free_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), None where unknown: what a
    caller sizing a pool can spend on the workers' copies of its data."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _one_thread() -> None:
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # stays in force in this process (not used as a context)
    numba.set_num_threads(1)
