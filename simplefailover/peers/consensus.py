"""Pure agreement rules between instances (SPEC SF-5): votes, isolation, shared serial, sender.

No I/O and no clock reads: every time comes in as an argument, so each rule is tested
directly. The rules, in short (docs/agreement.md tells why):

- An instance is *heard* when its last authenticated view arrived within `stale_after`;
  this instance always hears itself. It *votes* when heard and its first round of
  checks is done (ready).
- Isolated: heard instances are not a strict majority of the configured members.
- Quorum: voters are a strict majority of the members. Without quorum the answers stay
  as they were (`keep_last`) or follow this instance's own checks (`publish_own`).
- A (node, polling) is KO when a strict majority of the voters see it KO; otherwise OK
  when at least one voter sees it OK; otherwise UNKNOWN. Ties therefore keep a node in
  DNS: removing it needs a strict majority.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..state import Answer, CheckKey, Status, next_serial


@dataclass(frozen=True, slots=True)
class PeerView:
    """What one instance last said: its own check statuses and the answers it serves."""

    member: str
    statuses: Mapping[CheckKey, Status]
    ready: bool
    isolated: bool
    digest: str  # of the answers it serves
    serial: int  # the serial it serves them with
    sent_at: float  # its clock
    received_at: float  # ours


@dataclass(frozen=True, slots=True)
class Verdict:
    """The agreed status of every check at one instant, and how it was reached."""

    statuses: dict[CheckKey, Status]
    votes: dict[CheckKey, tuple[tuple[str, Status], ...]]  # (member, status) per voter
    heard: tuple[str, ...]
    voters: tuple[str, ...]
    isolated: bool
    quorum: bool


def majority(count: int, of: int) -> bool:
    """Whether count is a strict majority of `of`."""
    return count * 2 > of


def agreed_status(seen: Iterable[Status]) -> Status:
    """KO for a strict majority of KO; else OK if anyone sees OK; else UNKNOWN."""
    seen = list(seen)
    if majority(sum(s is Status.KO for s in seen), len(seen)):
        return Status.KO
    if any(s is Status.OK for s in seen):
        return Status.OK
    return Status.UNKNOWN


def answers_digest(answers: Mapping[str, Answer]) -> str:
    """A short fingerprint of what DNS serves (names and addresses only)."""
    served = sorted((fqdn, list(answer.addresses)) for fqdn, answer in answers.items())
    return hashlib.sha256(json.dumps(served, separators=(",", ":")).encode()).hexdigest()[:16]


def shared_serial(
    current: int, digest: str, changed: bool, peers: Iterable[tuple[str, int]], max_seen: int, now: float
) -> int:
    """The serial to serve: the same as every instance serving the same answers.

    New answers get a serial above every serial seen, unless a peer already serves
    exactly these answers under a higher serial than ours: then that one is taken.
    Unchanged answers take a higher serial a peer serves them with.
    """
    same = max((serial for d, serial in peers if d == digest), default=0)
    if not changed:
        return max(current, same)
    if same > current:
        return same
    return next_serial(max(current, max_seen), now)


@dataclass
class Agreement:
    """The latest view of every peer, and the rules that turn them into a verdict."""

    me: str
    members: tuple[str, ...]
    stale_after: float
    started_at: float  # isolation is not declared before stale_after has passed since
    views: dict[str, PeerView] = field(default_factory=dict)
    max_seen: int = 0

    def receive(self, view: PeerView) -> bool:
        """Keep a peer's view (newer than the one kept); True when the peer was not heard before."""
        if view.member == self.me or view.member not in self.members:
            return False
        old = self.views.get(view.member)
        if old is not None and view.sent_at <= old.sent_at:
            return False  # reordered datagram: keep the newer view
        self.views[view.member] = view
        self.max_seen = max(self.max_seen, view.serial)
        return old is None or not self._fresh(old, view.received_at)

    def fresh(self, now: float) -> list[PeerView]:
        """Views of the peers heard within stale_after, by member id."""
        return [v for m, v in sorted(self.views.items()) if m in self.members and self._fresh(v, now)]

    def starting(self, now: float) -> bool:
        """Whether this instance started less than stale_after ago: peers may not have spoken yet."""
        return now - self.started_at < self.stale_after

    def isolated(self, now: float) -> bool:
        """Whether this instance hears no strict majority of the members (after a start-up grace)."""
        if self.starting(now):
            return False
        return not majority(1 + len(self.fresh(now)), len(self.members))

    def verdict(
        self, own: Mapping[CheckKey, Status], own_ready: bool, keys: Sequence[CheckKey], now: float
    ) -> Verdict:
        """Agree on every key from the voters' views."""
        fresh = self.fresh(now)
        voting = [v for v in fresh if v.ready]
        ballots: list[tuple[str, Mapping[CheckKey, Status]]] = [(v.member, v.statuses) for v in voting]
        if own_ready:
            ballots.append((self.me, own))
        ballots.sort(key=lambda b: b[0])
        statuses: dict[CheckKey, Status] = {}
        votes: dict[CheckKey, tuple[tuple[str, Status], ...]] = {}
        for key in keys:
            cast = tuple((member, seen.get(key, Status.UNKNOWN)) for member, seen in ballots)
            votes[key] = cast
            statuses[key] = agreed_status(s for _, s in cast)
        heard = tuple(sorted([self.me, *(v.member for v in fresh)]))
        return Verdict(
            statuses,
            votes,
            heard,
            tuple(member for member, _ in ballots),
            self.isolated(now),
            majority(len(ballots), len(self.members)),
        )

    def peer_serials(self, now: float) -> list[tuple[str, int]]:
        """(answers digest, serial) of each ready peer heard recently."""
        return [(v.digest, v.serial) for v in self.fresh(now) if v.ready]

    def sender(self, own_ready: bool, now: float, down: Collection[str] = ()) -> str | None:
        """Who mails cluster-wide events: the lowest id among heard, ready, non-isolated instances.

        `down` names members whose own node is agreed down: an instance usually dies with
        its node, yet its peers hear it as fresh for `stale_after`, so preferring the others
        keeps the mail about that node's death from going to a dead sender.
        """
        if self.isolated(now):
            return None
        healthy = [v.member for v in self.fresh(now) if v.ready and not v.isolated]
        if own_ready:
            healthy.append(self.me)
        preferred = [member for member in healthy if member not in down]
        return min(preferred or healthy, default=None)

    def _fresh(self, view: PeerView, now: float) -> bool:
        return now - view.received_at <= self.stale_after


def explain(votes: Mapping[CheckKey, Sequence[tuple[str, Status]]], key: CheckKey, agreed: Status) -> str:
    """Why a key has its agreed status, e.g. 'KO for 2 of 3 instances (a, b)'."""
    cast = votes.get(key, ())
    if not cast:
        return f"{agreed.value}: no instance has checked it yet"
    ko = [member for member, status in cast if status is Status.KO]
    if agreed is Status.KO:
        return f"KO for {len(ko)} of {len(cast)} instances ({', '.join(ko)})"
    ok = [member for member, status in cast if status is Status.OK]
    if agreed is Status.OK:
        dissent = f"; KO for {', '.join(ko)}, not a majority" if ko else ""
        return f"OK for {len(ok)} of {len(cast)} instances ({', '.join(ok)}){dissent}"
    return f"UNKNOWN: KO for {len(ko)} of {len(cast)} instances, not a majority, and OK for none"


@dataclass(frozen=True, slots=True)
class AgreementState:
    """Where the agreement stands, for the dashboard and the API."""

    me: str
    members: tuple[str, ...]
    verdict: Verdict
    basis: str  # agreed | kept (no quorum: last agreed) | own (no quorum: own checks) | waiting (start)
    sender: str | None  # the instance that mails cluster-wide events
    views: tuple[PeerView, ...]  # every peer's latest view, heard recently or not
    stale_after: float
    at: float
