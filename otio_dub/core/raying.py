"""Ray, where a run asks for it (``--ray [ADDRESS]``): the module, and a session joined or started.

Shared by the render stage's executor and by listening, so both read ``--ray`` the same way:
``"local"`` (or ``""``) starts a local instance on this machine's cores, ``"auto"`` or an address
joins a running cluster; a Ray that is already connected is used as it is and left running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from .errors import OtioDubError
from .threads import available_cores


def ray_module() -> ModuleType:
    """The ray module, or one line naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise OtioDubError("--ray needs the 'ray' extra: pip install 'otio-dub[ray]'") from None
    return ray


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray connected for the block: joined at ``address`` (a cluster), else started locally with
    ``num_cpus`` (default: every core) and shut down after; a Ray already connected is left alone."""
    ray = ray_module()
    started = not ray.is_initialized()
    if started:
        _connect(ray, None if address in (None, "", "local") else address, num_cpus)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _connect(ray: ModuleType, address: str | None, num_cpus: int | None) -> None:
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus or available_cores(), include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "a local Ray instance"
        raise OtioDubError(f"--ray {address or ''}: cannot start or reach {where} ({exc})".replace("  ", " ")) from None


def ray_get(ray: ModuleType, ref: Any, lost: Callable[[str], OtioDubError]) -> Any:
    """A task's result; the task's own otio-dub error raised as itself (one line for the user), a
    worker lost twice (crashed, out of memory, its node gone) as ``lost(what happened)``."""
    from ray import exceptions

    try:
        return ray.get(ref)
    except exceptions.RayTaskError as exc:
        if isinstance(exc.cause, OtioDubError):
            raise exc.cause from None
        raise
    except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.OutOfMemoryError,
            exceptions.ObjectLostError) as exc:
        raise lost(type(exc).__name__) from None
