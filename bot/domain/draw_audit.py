"""Verifying a recorded draw against the rows people act on, and the chain of later changes.

Pure: no Telegram, no database, no clock.

What is verified
    1. The recorded inputs hash to the recorded SHA-256, and re-running the draw with them and
       the seed gives the recorded result (`bot.domain.draw.rerun`; a platform draw whose
       inspectors were imported too has nothing to re-run, its recorded result is the base).
    2. The chain of later changes: entry 0 is the draw itself (source, seed, algorithm, input
       hash, SHA-256 of the recorded result and of the platform's file), anchored in the input
       hash; every later change (回避 replacement, /swap) is one entry whose hash covers the
       previous entry's hash and its own canonical content. An edited entry no longer matches
       its hash; a removed or reordered one breaks the link of the next; a removed last entry
       no longer matches the head recorded with the draw.
    3. Replaying the changes in order over the base: each must be legal when it was made (the
       old inspector on that object, the new one eligible in the same department, not on the
       team, no declared conflict with the enterprise); a 回避 replacement must be exactly the
       one the recorded seed and counter draw.
    4. The outcome is compared with the rows notices, lists and results are built from
       (`draw_objects`, current `draw_assignments`): every difference is named.

Findings are data (`Finding.key` + facts); the words are in templates/zh/draw/finding.j2.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain import draw as rules

EXPORT_FORMAT = "draw-export-1"
CHANGE_KINDS = ("conflict", "swap")


class ExportError(ValueError):
    """An export file that cannot be read; `key` names the problem for the template."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def sha256(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


# -- the chain ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One later change of a drawn team: `old` replaced by `new` on object `seq`."""

    kind: str  # "conflict" (回避, redrawn) or "swap" (/swap, the liaison's choice)
    seq: int
    credit_code: str
    department: str
    old: str
    new: str
    reason: str
    actor: int
    at: str
    # certificates with a declared 回避 with this enterprise known when the change was made,
    # beyond those in the recorded inputs (the replacement avoided them)
    conflicts: tuple[str, ...] = ()
    legacy: bool = False  # made before the chain existed, sealed into it later

    def content(self) -> str:
        return _dumps(
            {
                "kind": self.kind,
                "seq": self.seq,
                "credit_code": self.credit_code,
                "department": self.department,
                "old": self.old,
                "new": self.new,
                "reason": self.reason,
                "actor": self.actor,
                "at": self.at,
                "conflicts": sorted(self.conflicts),
                "legacy": self.legacy,
            }
        )

    @classmethod
    def parse(cls, content: str) -> Change:
        data = json.loads(content)
        if data.get("kind") not in CHANGE_KINDS:
            raise ValueError(data.get("kind"))
        return cls(
            kind=str(data["kind"]),
            seq=int(data["seq"]),
            credit_code=str(data["credit_code"]),
            department=str(data["department"]),
            old=str(data["old"]),
            new=str(data["new"]),
            reason=str(data["reason"]),
            actor=int(data["actor"]),
            at=str(data["at"]),
            conflicts=tuple(str(c) for c in data.get("conflicts", ())),
            legacy=bool(data.get("legacy", False)),
        )


def genesis_content(
    *,
    source: str,
    seed: str,
    algorithm: str,
    input_hash: str,
    result_text: str,
    file_sha256: str | None,
    actor: int,
    at: str,
    sealed_at: str | None = None,
) -> str:
    """Entry 0: the draw as recorded. `sealed_at`: the chain was built later for a draw made
    before it existed (its earlier changes are then entries marked legacy)."""
    return _dumps(
        {
            "kind": "draw",
            "source": source,
            "seed": seed,
            "algorithm": algorithm,
            "input_hash": input_hash,
            "result_hash": sha256(result_text),
            "file_sha256": file_sha256,
            "actor": actor,
            "at": at,
            "sealed_at": sealed_at,
        }
    )


def link(prev_hash: str, content: str) -> str:
    """An entry's hash: SHA-256 over the previous entry's hash and the canonical content."""
    return sha256(f"{prev_hash}\n{content}")


@dataclass(frozen=True)
class Entry:
    n: int
    prev_hash: str
    hash: str
    content: str


def next_entry(chain_head: str, n: int, content: str) -> Entry:
    return Entry(n, chain_head, link(chain_head, content), content)


def build_chain(genesis: str, anchor: str, changes: Iterable[Change]) -> list[Entry]:
    entries = [next_entry(anchor, 0, genesis)]
    for change in changes:
        entries.append(next_entry(entries[-1].hash, len(entries), change.content()))
    return entries


# -- findings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One difference or broken rule; `key` selects the sentence in draw/finding.j2."""

    key: str
    facts: Mapping[str, Any] = field(default_factory=dict)


def _f(key: str, **facts: Any) -> Finding:
    return Finding(key, facts)


@dataclass(frozen=True)
class Record:
    """A recorded draw, as the database or an export holds it."""

    task_id: int
    source: str
    seed: str
    algorithm: str
    input_hash: str
    inputs_text: str
    result_text: str
    file_sha256: str | None = None
    chain_head: str | None = None
    drawn_by: int = 0
    created_at: str = ""

    def genesis(self, sealed_at: str | None = None) -> str:
        return genesis_content(
            source=self.source,
            seed=self.seed,
            algorithm=self.algorithm,
            input_hash=self.input_hash,
            result_text=self.result_text,
            file_sha256=self.file_sha256,
            actor=self.drawn_by,
            at=self.created_at,
            sealed_at=sealed_at,
        )

    @property
    def replacement_seed(self) -> str:
        """The seed replacements are drawn with (an imported team has none: the task number)."""
        return self.seed or f"task{self.task_id}"


@dataclass(frozen=True)
class Rows:
    """What people act on: drawn objects (seq, credit code, class) and current assignments
    (seq, department, certificate; None for an inspector row that no longer exists)."""

    objects: tuple[tuple[int, str, str], ...]
    assignments: tuple[tuple[int, str, str | None], ...]


def check_chain(
    record: Record, entries: Sequence[Entry]
) -> tuple[list[Finding], list[Change], str | None]:
    """The chain's findings, the changes it holds (in order) and its sealing time, if any."""
    found: list[Finding] = []
    changes: list[Change] = []
    sealed_at: str | None = None
    if not entries:
        return [_f("chain_empty")], [], None
    prev = record.input_hash
    for position, entry in enumerate(entries):
        if entry.n != position:
            found.append(_f("chain_gap", expected=position, n=entry.n))
        if entry.prev_hash != prev:
            found.append(_f("chain_broken" if position else "chain_anchor", n=entry.n))
        if link(entry.prev_hash, entry.content) != entry.hash:
            found.append(_f("chain_edited", n=entry.n))
        prev = entry.hash
        if position == 0:
            try:
                data = json.loads(entry.content)
            except ValueError:
                found.append(_f("chain_unreadable", n=entry.n))
                continue
            sealed_at = data.get("sealed_at") if isinstance(data, dict) else None
            expected = record.genesis(sealed_at)
            if entry.content != expected:
                fields = sorted(
                    k
                    for k, v in json.loads(expected).items()
                    if not isinstance(data, dict) or data.get(k) != v
                )
                found.append(_f("chain_genesis", fields=fields))
            continue
        try:
            changes.append(Change.parse(entry.content))
        except (ValueError, KeyError, TypeError):
            found.append(_f("chain_unreadable", n=entry.n))
    if record.chain_head is not None and record.chain_head != entries[-1].hash:
        found.append(_f("chain_head", n=entries[-1].n))
    return found, changes, sealed_at


# -- replay and comparison ------------------------------------------------------------------------


@dataclass
class _State:
    objects: dict[int, tuple[str, str]]
    teams: dict[int, list[tuple[str, str]]]
    out: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    loads: Counter[str] = field(default_factory=Counter)


def replay(
    base: Sequence[rules.DrawnObject],
    changes: Sequence[Change],
    inputs: rules.DrawInputs,
    seed: str,
) -> tuple[dict[int, tuple[str, str]], dict[int, list[tuple[str, str]]], list[Finding]]:
    """Apply the changes in order to the base result; each is checked as it was made."""
    state = _State(
        objects={o.seq: (o.credit_code, o.risk_class) for o in base},
        teams={o.seq: list(o.inspectors) for o in base},
    )
    loads_known = False  # counted at the first 回避 replacement (the only change that needs them)
    found: list[Finding] = []
    departments = {d.code: d for d in inputs.departments}
    eligible_cache: dict[str, set[str]] = {}
    for counter, change in enumerate(changes, start=1):
        n = counter
        facts = dict(n=n, seq=change.seq, code=change.credit_code, old=change.old, new=change.new)
        obj = state.objects.get(change.seq)
        if obj is None or obj[0] != change.credit_code:
            found.append(_f("change_object", **facts))
            continue
        team = state.teams[change.seq]
        if (change.department, change.old) not in team:
            found.append(_f("change_not_on_team", **facts))
            continue
        dept = departments.get(change.department)
        if dept is None:
            found.append(_f("change_department", **facts, department=change.department))
            continue
        conflicts = inputs.conflicts | {(c, change.credit_code) for c in change.conflicts}
        if change.kind == "conflict":
            conflicts = conflicts | {(change.old, change.credit_code)}
        certs = [c for _, c in team]
        if change.kind == "conflict" and not change.legacy:
            if not loads_known:
                state.loads.update(c for t in state.teams.values() for _, c in t)
                loads_known = True
            try:
                expected = rules.replacement(
                    replace(inputs, conflicts=frozenset(conflicts)),
                    seed,
                    counter,
                    change.department,
                    change.credit_code,
                    certs,
                    state.loads,
                    state.out[change.seq],
                )
            except rules.DrawError:
                expected = ""
            if expected != change.new:
                found.append(_f("change_redrawn", **facts, expected=expected))
        else:
            if change.department not in eligible_cache:
                eligible_cache[change.department] = {
                    i.certificate_no for i in rules.eligible(inputs, dept)
                }
            if change.new not in eligible_cache[change.department]:
                found.append(_f("change_not_eligible", **facts))
            elif change.new in certs:
                found.append(_f("change_on_team", **facts))
            elif (change.new, change.credit_code) in conflicts:
                found.append(_f("change_conflict", **facts))
        team.remove((change.department, change.old))
        team.append((change.department, change.new))  # last, as its row in draw_assignments
        state.out[change.seq].append(change.old)
        if loads_known:
            state.loads[change.old] -= 1
            state.loads[change.new] += 1
    return state.objects, state.teams, found


def compare(
    objects: Mapping[int, tuple[str, str]],
    teams: Mapping[int, Sequence[tuple[str, str]]],
    rows: Rows,
) -> list[Finding]:
    """Every difference between the replayed outcome and the rows people act on."""
    found: list[Finding] = []
    have = {seq: (code, cls) for seq, code, cls in rows.objects}
    if have == objects:  # the usual case, decided without a per-object walk
        expected = [(seq, dept, cert) for seq in sorted(teams) for dept, cert in teams[seq]]
        # rows come by object, then row id: a replacement after the rest of its team, as the
        # replay appends it; any other order is compared sorted
        if expected == list(rows.assignments) or sorted(expected) == sorted(
            rows.assignments, key=_row_key
        ):
            return found
    for seq in sorted(set(objects) | set(have)):
        want, got = objects.get(seq), have.get(seq)
        if got is None and want is not None:
            found.append(_f("object_missing", seq=seq, code=want[0]))
        elif want is None and got is not None:
            found.append(_f("object_extra", seq=seq, code=got[0]))
        elif want is not None and got is not None:
            if want[0] != got[0]:
                found.append(_f("object_code", seq=seq, expected=want[0], found=got[0]))
            elif want[1] != got[1]:
                found.append(
                    _f("object_class", seq=seq, code=want[0], expected=want[1], found=got[1])
                )
    held: dict[int, Counter[tuple[str, str | None]]] = defaultdict(Counter)
    for seq, dept, cert in rows.assignments:
        held[seq][(dept, cert)] += 1
    for seq in sorted(set(teams) | set(held)):
        want_team: Counter[tuple[str, str | None]] = Counter(teams.get(seq, ()))
        code = objects[seq][0] if seq in objects else have.get(seq, ("", ""))[0]
        got_team = held.get(seq, Counter())
        for (dept, cert), k in sorted((want_team - got_team).items(), key=_key):
            for _ in range(k):
                found.append(_f("inspector_missing", seq=seq, code=code, dept=dept, cert=cert))
        for (dept, cert), k in sorted((got_team - want_team).items(), key=_key):
            for _ in range(k):
                found.append(_f("inspector_extra", seq=seq, code=code, dept=dept, cert=cert))
    return found


def _row_key(row: tuple[int, str, str | None]) -> tuple[int, str, str]:
    return row[0], row[1], row[2] or ""


def _key(item: tuple[tuple[str, str | None], int]) -> tuple[str, str]:
    (dept, cert), _ = item
    return dept, cert or ""


# -- the whole verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    verification: rules.Verification
    findings: tuple[Finding, ...]
    changes: int  # later changes replayed
    chained: bool  # False: a draw from before the chain, changes taken from the history rows
    legacy: int  # changes made before the chain existed (not protected by it when made)
    sealed_at: str | None
    head: str | None  # the chain's last hash, to compare with a published one
    replayed: bool  # the base result could be built (re-run or recorded)
    teams_version: int | None = None  # how inspectors were assigned (DrawInputs.version)

    @property
    def identical(self) -> bool:
        return self.verification.identical and not self.findings and self.replayed


def audit(
    record: Record,
    rows: Rows,
    *,
    chain: Sequence[Entry] | None,
    history: Sequence[Change] = (),
    chain_required: bool = False,
) -> Audit:
    """Verify a recorded draw. `chain`: its chain entries; None for a draw made before chains
    existed, whose changes are then `history` (the replaced rows, in order). A draw that
    must have a chain (`chain_required`: made after chains existed; or a head recorded) but
    has none had it removed."""
    verification, rerun, inputs = rules.rerun(
        source=record.source,
        seed=record.seed,
        algorithm=record.algorithm,
        recorded_hash=record.input_hash,
        inputs_text=record.inputs_text,
        result_text=record.result_text,
    )
    findings: list[Finding] = []
    sealed_at: str | None = None
    if chain is None:
        changes = list(history)
        head = None
        if chain_required or record.chain_head is not None:
            findings.append(_f("chain_missing"))
    else:
        chain_findings, changes, sealed_at = check_chain(record, chain)
        findings.extend(chain_findings)
        head = chain[-1].hash if chain else None
    base = rerun if rerun is not None else _recorded_result(record.result_text)
    if inputs is None:
        try:
            inputs = rules.from_canonical(record.inputs_text)
        except (ValueError, KeyError, TypeError, IndexError):
            inputs = None
    replayed = base is not None and inputs is not None
    if base is not None and inputs is not None:
        objects, teams, replay_findings = replay(base, changes, inputs, record.replacement_seed)
        findings.extend(replay_findings)
        findings.extend(compare(objects, teams, rows))
    return Audit(
        verification=verification,
        findings=tuple(findings),
        changes=len(changes),
        chained=chain is not None,
        legacy=sum(c.legacy for c in changes) if chain is not None else len(changes),
        sealed_at=sealed_at,
        head=head,
        replayed=replayed,
        teams_version=inputs.version if inputs is not None else None,
    )


def _recorded_result(result_text: str) -> tuple[rules.DrawnObject, ...] | None:
    try:
        data = json.loads(result_text)
        return tuple(
            rules.DrawnObject(int(o[0]), str(o[1]), str(o[2]), tuple((d, c) for d, c in o[3]))
            for o in data["objects"]
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None


# -- the export file ------------------------------------------------------------------------------


def export(
    record: Record,
    rows: Rows,
    *,
    chain: Sequence[Entry] | None,
    history: Sequence[Change] = (),
    enterprises: Mapping[str, str] | None = None,
    inspectors: Mapping[str, str] | None = None,
    exported_at: str = "",
    chain_required: bool = False,
) -> bytes:
    """One JSON file holding everything `audit` needs, plus names for the reader."""
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": exported_at,
        "task": record.task_id,
        "draw": {
            "source": record.source,
            "seed": record.seed,
            "algorithm": record.algorithm,
            "input_hash": record.input_hash,
            "file_sha256": record.file_sha256,
            "chain_head": record.chain_head,
            "drawn_by": record.drawn_by,
            "created_at": record.created_at,
        },
        "inputs": record.inputs_text,
        "result": record.result_text,
        "chain": None if chain is None else [[e.n, e.prev_hash, e.hash, e.content] for e in chain],
        "history": [c.content() for c in history] if chain is None else [],
        "chain_required": chain_required,
        "rows": {
            "objects": [list(o) for o in rows.objects],
            "assignments": [list(a) for a in rows.assignments],
        },
        "names": {
            "enterprises": dict(sorted((enterprises or {}).items())),
            "inspectors": dict(sorted((inspectors or {}).items())),
        },
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Exported:
    record: Record
    rows: Rows
    chain: list[Entry] | None
    history: list[Change]
    enterprises: dict[str, str]
    inspectors: dict[str, str]
    exported_at: str
    chain_required: bool = False


def read_export(data: bytes) -> Exported:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ExportError("not_json") from exc
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise ExportError("format")
    try:
        d = doc["draw"]
        record = Record(
            task_id=int(doc["task"]),
            source=str(d["source"]),
            seed=str(d["seed"]),
            algorithm=str(d["algorithm"]),
            input_hash=str(d["input_hash"]),
            inputs_text=str(doc["inputs"]),
            result_text=str(doc["result"]),
            file_sha256=d.get("file_sha256"),
            chain_head=d.get("chain_head"),
            drawn_by=int(d.get("drawn_by") or 0),
            created_at=str(d.get("created_at") or ""),
        )
        rows = Rows(
            tuple((int(s), str(c), str(k)) for s, c, k in doc["rows"]["objects"]),
            tuple(
                (int(s), str(dp), None if c is None else str(c))
                for s, dp, c in doc["rows"]["assignments"]
            ),
        )
        chain = (
            None
            if doc.get("chain") is None
            else [Entry(int(n), str(p), str(h), str(c)) for n, p, h, c in doc["chain"]]
        )
        history = [Change.parse(c) for c in doc.get("history") or []]
        names = doc.get("names") or {}
        return Exported(
            record,
            rows,
            chain,
            history,
            {str(k): str(v) for k, v in (names.get("enterprises") or {}).items()},
            {str(k): str(v) for k, v in (names.get("inspectors") or {}).items()},
            str(doc.get("exported_at") or ""),
            bool(doc.get("chain_required", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError("fields") from exc


def audit_export(exported: Exported) -> Audit:
    return audit(
        exported.record,
        exported.rows,
        chain=exported.chain,
        history=exported.history,
        chain_required=exported.chain_required,
    )
