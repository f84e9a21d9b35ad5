"""The agreement as a service: send own views every heartbeat and on change, fold in the peers'."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

from habase.notify import Notifier
from habase.service import start_thread

from ..config import Config
from ..engine import Engine, Listener
from ..errors import ConfigError
from ..metrics import Metrics
from ..state import Transition
from . import settings
from .auth import Opened
from .exchange import PeerExchange
from .wire import control_of, decode_view, encode_view

if TYPE_CHECKING:
    from ..control.service import ControlService

logger = logging.getLogger(__name__)

ISOLATION_MAIL_EVERY = 600.0  # seconds: at most one "isolated" mail per this period


class PeerService:
    """Exchange views with the other instances; does nothing when no peers are configured.

    Sends run on this service's own thread, woken by the engine when a check of this
    instance changes and every `peers.heartbeat` seconds otherwise, so polling never waits.
    """

    name = "peers"

    def __init__(
        self, config: Config, engine: Engine, metrics: Metrics, notifier: Notifier | None = None
    ) -> None:
        problems = settings.check(config)
        if problems:
            raise ConfigError(problems)
        self._config = config
        self._engine = engine
        self._notifier = notifier
        self._exchange: PeerExchange | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_isolation_mail = float("-inf")
        registry = metrics.registry
        self._messages = Counter(
            "simplefailover_peer_messages", "Peer messages, by outcome", ["outcome"], registry=registry
        )
        self._isolated = Gauge(
            "simplefailover_peers_isolated",
            "1 while this instance hears no majority of its peers",
            registry=registry,
        )
        self._heard = Gauge(
            "simplefailover_peers_heard", "Instances heard recently, this one included", registry=registry
        )
        self._serial = metrics.serial
        self.control: ControlService | None = None  # maintenance and pins ride with the views (SF-11)
        engine.subscribe(self._on_transitions)

    def should_notify(self) -> bool:
        """Whether this instance is the one that mails cluster-wide events (always, when alone)."""
        return self._engine.should_notify()

    def only_if_sender(self, listener: Listener) -> Listener:
        """Wrap a transition listener so it only hears cluster-wide events on the sending instance."""

        def gated(transitions: list[Transition]) -> None:
            if self.should_notify():
                listener(transitions)

        return gated

    def send_now(self) -> None:
        """Send the views now rather than at the next heartbeat (the control map changed)."""
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._open(self._config)
        if self._exchange is not None:
            self._thread = start_thread("peers", self._run)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._close()

    def reconfigure(self, config: Config) -> None:
        """Reopen the exchange when the peers section changed."""
        problems = settings.check(config)
        if problems:
            logger.error("peers section not applied: %s", "; ".join(problems))
            return
        old, self._config = self._config, config
        if old.peers == config.peers and settings.secret_path(old) == settings.secret_path(config):
            return
        self.stop()
        self.start()

    def _open(self, config: Config) -> None:
        peers = settings.peers_of(config)
        if peers is None:
            return
        me = settings.self_id(config)
        others = {m.id: m.hostport() for m in peers.members if m.id != me}
        self._exchange = PeerExchange(
            me,
            peers.address(),
            others,
            settings.read_secret(config),
            self._receive,
            lambda outcome: self._messages.labels(outcome).inc(),
            drop=peers.test_drop_traffic,
        )
        self._exchange.start()

    def _close(self) -> None:
        if self._exchange is not None:
            self._exchange.stop()
            self._exchange = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._engine.tick(time.time())
            self._send()
            self._follow()
            peers = self._config.peers
            self._wake.wait(peers.heartbeat if peers else 1.0)
            self._wake.clear()

    def _send(self, to: str | None = None) -> None:
        exchange = self._exchange
        if exchange is None:
            return
        own = self._engine.own_view()
        control = self.control.entries_for_peers() if self.control else None
        exchange.send(encode_view(own.statuses, own.ready, own.isolated, own.digest, own.serial, control), to)

    def _receive(self, message: Opened, received_at: float) -> None:
        try:
            view = decode_view(message.sender, message.body, message.sent_at, received_at)
        except ValueError as exc:
            self._messages.labels("malformed").inc()
            logger.warning("peer message refused: %s", exc)
            return
        if self.control is not None:
            entries = control_of(message.body)
            if entries is not None:
                self.control.receive(view.member, entries)
        if self._engine.receive_view(view):
            logger.info("peer %s heard (serial %d)", view.member, view.serial)
            self._send(to=view.member)  # a peer (re)appearing learns our view at once
        self._follow()

    def _follow(self) -> None:
        state = self._engine.agreement_state()
        if state is not None:
            self._isolated.set(1 if state.verdict.isolated else 0)
            self._heard.set(len(state.verdict.heard))
        self._serial.set(self._engine.table.serial)

    def _on_transitions(self, transitions: list[Transition]) -> None:
        if any(t.kind == "observed" for t in transitions):
            self._wake.set()  # own check changed: tell the peers now, not at the next heartbeat
        for t in transitions:
            if t.kind != "isolated" or t.new != "yes" or self._notifier is None:
                continue
            if self._engine.unheard_went_down(t.at):
                logger.info("not mailing the isolation: every instance not heard went down with its node")
                continue
            if t.at - self._last_isolation_mail >= ISOLATION_MAIL_EVERY:  # a flapping link mails once
                self._last_isolation_mail = t.at
                self._mail_isolated(self._notifier, t)  # only queued: notify never blocks

    def _mail_isolated(self, notifier: Notifier, t: Transition) -> None:
        me = settings.self_id(self._config)
        subject = f"[{me}] isolated from its peers"
        body = (
            f"SimpleFailover instance {me} hears no majority of its peers. It answers from what it\n"
            f"hears: if the others are alive on the far side of a cut, they may answer otherwise.\n\n"
            f"{t.reason}\n\n"
            f"Time: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t.at))}\n"
        )
        notifier.notify(subject, body)
