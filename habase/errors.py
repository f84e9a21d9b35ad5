"""The errors both products raise: an invalid config, a port that cannot be bound."""

from __future__ import annotations

import errno
import sys


class ConfigError(Exception):
    """The configuration is invalid; .problems lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def bind_fix(exc: OSError, port: int, setting: str) -> str:
    """Why a listening socket could not be opened and how to fix it, for the end of a BindError."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied. Ports below 1024 need the right to bind them (CAP_NET_BIND_SERVICE): "
            f"run as root, or as the installed systemd unit (`simplefailover install-service` grants that "
            f"right alone), or allow this Python with "
            f"`setcap cap_net_bind_service=+ep $(readlink -f {sys.executable})`; "
            f"or use a port above 1023 in {setting}"
        )
    if exc.errno == errno.EADDRINUSE:
        return (
            f"the port is already in use: another program uses it (which: `ss -lntup 'sport = :{port}'`); "
            f"stop it or choose another port in {setting}"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"that address is not one of this host's; fix {setting}"
    return f"{exc.strerror or exc}; check {setting}"
