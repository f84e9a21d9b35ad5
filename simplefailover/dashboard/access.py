"""Who may use the dashboard: the local host only, through a local name.

Binding to loopback keeps other hosts out; the Host check stops DNS rebinding, where
a web page from elsewhere makes the browser on this host send requests here under
the attacker's own domain name.
"""

from __future__ import annotations

import ipaddress
import logging

from flask import Flask, Response, request

logger = logging.getLogger(__name__)

LOCAL_NAMES = frozenset({"localhost"})


def _loopback_ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def client_allowed(remote_addr: str | None) -> bool:
    """Whether the client address is a loopback address."""
    return bool(remote_addr) and _loopback_ip(remote_addr or "")


def host_allowed(host: str | None) -> bool:
    """Whether a Host header names the local host: localhost, or a loopback IP literal, any port."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, sep, rest = host[1:].partition("]")
        if not sep or not _port_ok(rest):
            return False
        return ":" in name and _loopback_ip(name)
    name, sep, port = host.partition(":")
    if sep and not _port_ok(":" + port):
        return False
    # "127.0.0.1.evil.example" is a name, not an address: ip_address() refuses it.
    return name in LOCAL_NAMES or _loopback_ip(name)


def _port_ok(rest: str) -> bool:
    """Accept '' or ':N' with N a port number."""
    if not rest:
        return True
    digits = rest[1:]
    return rest.startswith(":") and digits.isdigit() and 0 < int(digits) <= 65535


def install(app: Flask) -> None:
    """Refuse, with 403, every request that is not from this host to a local name."""

    @app.before_request
    def _local_only() -> Response | None:
        remote = request.remote_addr
        if not client_allowed(remote):
            logger.warning("dashboard: refused client %s (not loopback)", remote)
            return _forbidden("the dashboard answers the local host only")
        host = request.headers.get("Host")
        if not host_allowed(host):
            logger.warning("dashboard: refused Host header %r from %s", host, remote)
            return _forbidden("use http://localhost, http://127.0.0.1 or http://[::1] to open the dashboard")
        return None


def _forbidden(message: str) -> Response:
    return Response(f"403 Forbidden: {message}\n", status=403, mimetype="text/plain")
