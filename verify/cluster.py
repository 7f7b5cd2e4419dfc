"""The Dask cluster every distributed proof runs on: a scheduler address, else a LocalCluster.

One place for it, so ``verify --spice`` (tiles) and ``verify --rtl --replay`` (cores and routers)
reach a real cluster and the embedded default the same way: one thread per worker process,
because each task runs a simulator that holds the GIL or a subprocess.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` of ``scheduler``, or of a LocalCluster of ``workers``
    processes; both closed on exit."""
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                               processes=True, dashboard_address=":0")  # any free port: no clash
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
