"""Where Dask work runs: an existing cluster (``SAUTI_DASK_SCHEDULER`` / ``--scheduler``) or this machine.

The cube is built block by block as a Dask graph (:mod:`sauti.features.blocks`); inside
:func:`dask_scheduler` that graph runs on the cluster whose scheduler listens at
``tcp://HOST:PORT``, else on local threads, one block per thread, so memory stays bounded by a
few blocks. The workers must see the workspace folder (same machine, or a shared file system):
they write the cube's chunks into it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sauti.errors import SautiError

log = logging.getLogger(__name__)


def scheduler_address(option: str | None = None) -> str | None:
    """``--scheduler`` when given, else the ``SAUTI_DASK_SCHEDULER`` setting (``None``: this machine)."""
    if option:
        return option
    from sauti.settings import get_settings

    return get_settings().dask_scheduler


@contextmanager
def dask_scheduler(address: str | None = None, *, timeout_s: float = 10.0) -> Iterator[object | None]:
    """Run the Dask computations inside on the cluster at ``address``, else on local threads.

    Yields the ``distributed.Client`` (or ``None`` locally). An address that does not answer is a
    :class:`SautiError` naming it and the setting, not a hang.
    """
    if not address:
        import dask

        with dask.config.set(scheduler="threads", num_workers=max(os.cpu_count() or 1, 1)):
            yield None
        return
    if not str(address).startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise SautiError(f"Dask scheduler {address!r}: expected an address like tcp://HOST:PORT")
    from distributed import Client

    try:
        client = Client(str(address), timeout=f"{timeout_s:g}s", set_as_default=True)
    except (OSError, TimeoutError) as exc:
        raise SautiError(
            f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}); start it, or unset "
            "SAUTI_DASK_SCHEDULER / --scheduler to compute on this machine"
        ) from exc
    log.info(
        "computing on the Dask cluster at %s (%d workers)", address, len(client.scheduler_info()["workers"])
    )
    try:
        yield client
    finally:
        client.close()
