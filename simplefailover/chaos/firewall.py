"""Network cuts on loopback with iptables: DROP rules in a chain of our own, always removed.

The chain is hooked into INPUT only for the packets the caller names (`hooks`, e.g. from or to
its own addresses), and every rule in it matches addresses and ports precisely, so nothing
else on the machine is touched. `close` removes the hooks and the chain, also when a run was
killed before it could (it is called first by the constructor too).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence


class FirewallError(RuntimeError):
    """iptables is missing or refused a rule (not root?)."""


class Firewall:
    """DROP rules in chain `chain`, reached from INPUT by the packets each hook matches."""

    def __init__(self, chain: str, hooks: Sequence[Sequence[str]]) -> None:
        if shutil.which("iptables") is None:
            raise FirewallError("iptables not found (Debian package iptables)")
        self.chain = chain
        self.hooks = [list(h) for h in hooks]
        self.close()  # a run killed before its finalizer may have left the chain behind
        self._run("-N", chain)
        for match in self.hooks:
            self._run("-I", "INPUT", *match, "-j", chain)
        self.rules: list[list[str]] = []

    def drop(self, *match: str) -> None:
        """Drop the packets that match (address and port options of iptables)."""
        rule = [*match, "-j", "DROP"]
        self._run("-A", self.chain, *rule)
        self.rules.append(rule)

    def heal(self) -> None:
        """Remove every rule; the chain and its hooks stay."""
        self._run("-F", self.chain)
        self.rules.clear()

    def close(self) -> None:
        """Remove the hooks, the rules and the chain (whatever of them exists)."""
        for match in self.hooks:
            while self._run("-D", "INPUT", *match, "-j", self.chain, check=False) == 0:
                pass
        self._run("-F", self.chain, check=False)
        self._run("-X", self.chain, check=False)

    @staticmethod
    def _run(*args: str, check: bool = True) -> int:
        done = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise FirewallError(f"iptables {' '.join(args)}: {done.stderr.strip()}")
        return done.returncode
