"""Pure agreement rules between instances (SPEC SF-5): votes, ties, keeping, shared serial, sender.

No I/O and no clock reads: every time comes in as an argument, so each rule is tested
directly. The rules, in short (docs/agreement.md tells why):

- An instance is *heard* when its last authenticated view arrived within `stale_after`;
  this instance always hears itself. It *votes* when heard and its first round of
  checks is done (ready). Members not heard drop out of the electorate: a dead
  instance never blocks the living.
- A (node, polling) is KO when a strict majority of the voters see it KO. On an exact
  tie the witness decides when it votes; otherwise (and when nobody sees KO) it is OK
  when at least one voter sees it OK, else UNKNOWN. Removing a node therefore needs a
  strict majority of the instances heard, or the witness's word on a tie.
- Quorum: the voters are a strict majority of the configured members. With quorum the
  answers follow the votes ("agreed"). Without quorum (this instance may be on the small
  side of a cut, or the others died) they follow the votes too, except that a hostname
  keeps its last agreed answer while every node of that answer is seen OK by some voter:
  a kept answer always has positive evidence that its node is alive, so an instance never
  stays on an address that everything it hears sees KO.
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
    isolated: bool  # hears no strict majority of the members
    quorum: bool  # the voters are a strict majority of the members
    members: tuple[str, ...] = ()
    witness: str | None = None  # the configured witness, if any
    ties: frozenset[CheckKey] = frozenset()  # keys whose 1-1 tie the witness decided


def majority(count: int, of: int) -> bool:
    """Whether count is a strict majority of `of`."""
    return count * 2 > of


def agreed_status(seen: Iterable[Status], witness: Status | None = None) -> Status:
    """KO for a strict majority of KO; a tie goes the witness's way; else OK if anyone sees OK."""
    seen = list(seen)
    ko = sum(s is Status.KO for s in seen)
    if majority(ko, len(seen)):
        return Status.KO
    if seen and ko * 2 == len(seen) and witness in (Status.KO, Status.OK):
        return witness
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


def seen_ok_by(votes: Mapping[CheckKey, Sequence[tuple[str, Status]]], key: CheckKey) -> tuple[str, ...]:
    """The voters that see a check OK: the evidence that its node is alive."""
    return tuple(member for member, status in votes.get(key, ()) if status is Status.OK)


def keepable(
    agreed: Mapping[str, Answer], polling_of: Mapping[str, str], verdict: Verdict
) -> dict[str, Answer]:
    """The last agreed answers an instance without quorum keeps: those still seen alive.

    An answer is kept only while every node it names is seen OK by at least one voter
    (this instance's own checks included). All-down answers and answers with no address
    are never kept: they are chosen again from the votes. With quorum nothing is kept.
    """
    if verdict.quorum:
        return {}
    kept = {}
    for fqdn, answer in agreed.items():
        polling = polling_of.get(fqdn)
        if polling is None or answer.all_down or not answer.node_ids:
            continue
        if all(seen_ok_by(verdict.votes, (node_id, polling)) for node_id in answer.node_ids):
            kept[fqdn] = answer
    return kept


@dataclass
class Agreement:
    """The latest view of every peer, and the rules that turn them into a verdict."""

    me: str
    members: tuple[str, ...]
    stale_after: float
    started_at: float  # isolation is not declared before stale_after has passed since
    views: dict[str, PeerView] = field(default_factory=dict)
    max_seen: int = 0
    witness: str | None = None  # the member with role: witness (polls and votes, not a node)

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
        witness_ballot = next((seen for member, seen in ballots if member == self.witness), None)
        statuses: dict[CheckKey, Status] = {}
        votes: dict[CheckKey, tuple[tuple[str, Status], ...]] = {}
        ties = set()
        for key in keys:
            cast = tuple((member, seen.get(key, Status.UNKNOWN)) for member, seen in ballots)
            votes[key] = cast
            tiebreak = witness_ballot.get(key) if witness_ballot is not None else None
            statuses[key] = agreed_status((s for _, s in cast), tiebreak)
            ko = sum(s is Status.KO for _, s in cast)
            if tiebreak in (Status.OK, Status.KO) and cast and ko * 2 == len(cast):
                ties.add(key)
        heard = tuple(sorted([self.me, *(v.member for v in fresh)]))
        return Verdict(
            statuses,
            votes,
            heard,
            tuple(member for member, _ in ballots),
            self.isolated(now),
            majority(len(ballots), len(self.members)),
            self.members,
            self.witness,
            frozenset(ties),
        )

    def peer_serials(self, now: float) -> list[tuple[str, int]]:
        """(answers digest, serial) of each ready peer heard recently."""
        return [(v.digest, v.serial) for v in self.fresh(now) if v.ready]

    def sender(self, own_ready: bool, now: float, down: Collection[str] = ()) -> str | None:
        """Who mails cluster-wide events: the lowest id among the ready instances this one hears.

        A peer that says it is isolated is passed over (it mails for its own side). This
        instance counts even when it hears no majority: a survivor must mail the death of
        the others. Preferred are members that are nodes and whose own node is not agreed
        down (`down`): an instance usually dies with its node, yet its peers hear it as
        fresh for `stale_after`, so the mail about that node's death goes to a live one.
        """
        healthy = [v.member for v in self.fresh(now) if v.ready and not v.isolated]
        if own_ready:
            healthy.append(self.me)
        preferred = [member for member in healthy if member not in down and member != self.witness]
        return min(preferred or healthy, default=None)

    def _fresh(self, view: PeerView, now: float) -> bool:
        return now - view.received_at <= self.stale_after


def explain(verdict: Verdict, key: CheckKey) -> str:
    """Why a key has its agreed status, e.g. 'KO for 2 of 3 instances (a, b)'."""
    cast = verdict.votes.get(key, ())
    agreed = verdict.statuses.get(key, Status.UNKNOWN)
    if not cast:
        return f"{agreed.value}: no instance has checked it yet"
    ko = [member for member, status in cast if status is Status.KO]
    ok = [member for member, status in cast if status is Status.OK]
    if key in verdict.ties:
        other = ", ".join(m for m in (ko if agreed is Status.OK else ok) if m != verdict.witness)
        return (
            f"{agreed.value}: a tie of {len(cast)} instances broken by the witness {verdict.witness}"
            f" ({other} saw it otherwise)"
        )
    if agreed is Status.KO:
        return f"KO for {len(ko)} of {len(cast)} instances ({', '.join(ko)})"
    if agreed is Status.OK:
        dissent = f"; KO for {', '.join(ko)}, not a majority" if ko else ""
        return f"OK for {len(ok)} of {len(cast)} instances ({', '.join(ok)}){dissent}"
    return f"UNKNOWN: KO for {len(ko)} of {len(cast)} instances, not a majority, and OK for none"


# What a hostname's answer rests on, for its "why": the kinds and how they are worded.
BASIS_KINDS = ("agreed", "witness", "alone", "heard", "kept", "waiting")


def basis_text(kind: str, verdict: Verdict, kept_from: str = "") -> str:
    """The basis of an answer in words, from the verdict the answer was chosen from."""
    voters, members = verdict.voters, verdict.members
    unheard = [m for m in members if m not in verdict.heard]
    missing = f"; not heard: {', '.join(unheard)}" if unheard else ""
    if kind == "agreed":
        return f"agreed by {len(voters)} of {len(members)} instances ({', '.join(voters)}){missing}"
    if kind == "witness":
        return (
            f"agreed by {len(voters)} of {len(members)} instances ({', '.join(voters)}), "
            f"the witness {verdict.witness} breaking a tie{missing}"
        )
    if kind == "alone":
        return f"own checks (alone: hears none of the other {len(members) - 1} instances)"
    if kind == "heard":
        return (
            f"agreed by the {len(voters)} instances heard ({', '.join(voters)}), "
            f"no majority of the {len(members)}{missing}"
        )
    if kind == "kept":
        still = "its node is still seen OK, no majority heard"
        return f"kept from the last agreement{kept_from}: {still}{missing}"
    return "waiting to hear a majority of the instances"


def basis_kind(verdict: Verdict, polling: str, kept: bool) -> str:
    """The kind of basis of one hostname's answer (see BASIS_KINDS)."""
    if kept:
        return "kept"
    if verdict.quorum:
        return "witness" if any(p == polling for _, p in verdict.ties) else "agreed"
    return "alone" if len(verdict.voters) <= 1 else "heard"


@dataclass(frozen=True, slots=True)
class AgreementState:
    """Where the agreement stands, for the dashboard and the API."""

    me: str
    members: tuple[str, ...]
    verdict: Verdict
    basis: str  # agreed | kept | alone | heard | witness | waiting: of the whole table
    sender: str | None  # the instance that mails cluster-wide events
    views: tuple[PeerView, ...]  # every peer's latest view, heard recently or not
    stale_after: float
    at: float
    why: Mapping[CheckKey, str] = field(default_factory=dict)  # of each agreed status, as decided
