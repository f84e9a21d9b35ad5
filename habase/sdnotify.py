"""Tell systemd how the service is doing (sd_notify), so the units can be Type=notify.

With Type=notify, `systemctl start` returns once the service really serves (or fails with
the reason when it cannot, a port it cannot bind for one), and `systemctl reload` is queued
until then instead of reaching a process that has no SIGHUP handler yet. Outside systemd
(NOTIFY_SOCKET unset) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


def notify(*fields: str) -> bool:
    """Send fields ("READY=1", "STATUS=...") to systemd; False when not under systemd or on error."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError as exc:
        logger.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}")


def reloading() -> bool:
    return notify("RELOADING=1", "STATUS=reloading the config")


def stopping() -> bool:
    return notify("STOPPING=1", "STATUS=stopping")
