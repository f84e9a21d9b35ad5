"""Stopping the services a test started, and asking their DNS, the same way everywhere."""

from __future__ import annotations

import signal
import subprocess

import dns.message
import dns.query


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> int | None:
    """SIGTERM, wait, SIGKILL if it does not go; its exit code (negative: the signal that ended it)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def a_records(name: str, host: str, port: int) -> list[str]:
    """The A addresses a DNS server gives for name, sorted; [] when it does not answer."""
    try:
        reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=1)
    except Exception:
        return []
    return sorted(item.address for rrset in reply.answer for item in rrset if rrset.rdtype == 1)
