"""The one way to start and stop background services (threads) in this project."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)


@runtime_checkable
class Service(Protocol):
    """Something that runs in the background between start() and stop()."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A service that can take a new config without a restart."""

    def reconfigure(self, config: Any) -> None: ...


def start_thread(name: str, target: Callable[[], object]) -> threading.Thread:
    """Run target in a named daemon thread, logging (not losing) a crash."""

    def guarded() -> None:
        try:
            target()
        except Exception:
            logger.exception("background thread %s crashed", name)

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    return thread


class ServiceGroup:
    """Start services in order and stop them in reverse; a failed start stops the rest."""

    def __init__(self) -> None:
        self._services: list[Service] = []
        self._started: list[Service] = []
        self.reconfigure_errors: dict[str, str] = {}  # service name -> why, from the last reconfigure

    def add(self, service: Service) -> None:
        self._services.append(service)

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services)

    def start(self) -> None:
        for service in self._services:
            try:
                service.start()
            except BaseException:
                self.stop()
                raise
            self._started.append(service)
            logger.debug("started %s", service.name)

    def stop(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                service.stop()
            except Exception:
                logger.exception("stopping %s failed", service.name)

    def reconfigure(self, config: Any) -> list[str]:
        """Give every service the new config; one that fails does not stop the others.

        Returns the names of the services that could not follow (each failure is logged).
        """
        failed = []
        self.reconfigure_errors = {}
        for service in self._services:
            if isinstance(service, Reconfigurable):
                try:
                    service.reconfigure(config)
                except Exception as exc:
                    logger.exception("%s could not take the new config; it keeps the old one", service.name)
                    failed.append(service.name)
                    self.reconfigure_errors[service.name] = str(exc) or type(exc).__name__
        return failed
