"""The double-random draw (双随机): objects by credit-risk class, inspectors per object.

Pure: no Telegram, no database, no clock. A draw is a function of (inputs, seed, algorithm
version) only, so anyone holding the recorded inputs and seed can re-run it and get the same
lists (`verify`).

Objects
    Candidates are the objects whose industry tags contain the task's industry. Left out: objects
    whose status names a closed business (注销, 吊销, 撤销, 关闭, 停业, 清算, 歇业, 迁出 …) and
    objects already drawn `yearly_cap` times this year for an item of this task (the caller
    counts earlier draws and passes them as `prior`). The rest is stratified by credit-risk class
    (A, B, C, D; objects without a class form the stratum "-" drawn at the B ratio). From a
    stratum of N objects with ratio p % the draw takes ceil(N × p / 100) objects, computed
    exactly with fractions: a non-empty stratum never yields zero, and never more than N.
    Each stratum is sorted by credit code and sampled with `random.Random(<seed>:<version>:
    objects:<class>)`. Drawn objects are numbered 1… in (class, credit code) order.

Inspectors
    Eligible: active, certificate valid through the last day of the window (no expiry date
    recorded counts as valid), and matched by specialty: a department's items "ask for" a
    specialty when an item's name, object type or content contains one of the specialties its
    inspectors list; then only inspectors with such a specialty are eligible (when no item text
    names one, specialty is not used). Never an inspector with a declared conflict (回避) with
    that enterprise. How teams are made depends on the algorithm version recorded in the inputs
    (`DrawInputs.version`, part of the hashed canonical text, so a recorded draw always re-runs
    with the algorithm it was made with):

    Version 2 (every new draw): random teams.
      * A department that declared how many inspectors it sends ("派出 N 名检查人员",
        `DepartmentIn.declared`) takes part with N of its eligible inspectors, drawn at random
        (all of them when it has fewer); otherwise with all its eligible inspectors.
      * Each object gets min(per_department, N) inspectors of every participating department and
        at least `min_per_object` in all (the lead department makes up the difference).
      * Per object, each department's inspectors are drawn at random among those whose turn it
        is: a department's inspectors go in rounds, each once per round, so loads within a
        department differ by at most one. Among the random choices a team not seen before in
        this draw is preferred (up to TEAM_TRIES tries), so partners are not predictable.
      * Rotation (`Rules.rotation`, on by default): an inspector who inspected an enterprise in
        the previous draw of the same item (`DrawInputs.previous`, recorded in the inputs) is
        not sent there again, unless nobody else of the department can go.
      * Conflicts are never broken. Around a conflict (or the rotation rule) an inspector may be
        taken ahead of their turn, so loads can then differ by two.
    Version 1 (draws recorded before random teams): within a department the eligible
    inspectors are shuffled once (seeded) and taken least-recently-used, `per_department` from
    each department; kept unchanged so those draws still re-run to the same result.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from operator import getitem
from typing import Any

ALGORITHM_VERSION = "draw-1"  # the recording format (draws.algorithm); see DrawInputs.version
TEAMS_VERSION = 2  # the assignment algorithm of new draws (inputs without a version: 1)
TEAM_TRIES = 12  # random teams tried per object before a team seen before is accepted
RISK_CLASSES = ("A", "B", "C", "D")
UNCLASSIFIED = "-"
DEFAULT_RATIOS: dict[str, float] = {"A": 3, "B": 5, "C": 20, "D": 100}
CLOSED_WORDS: tuple[str, ...] = ("注销", "吊销", "撤销", "关闭", "停业", "歇业", "清算", "迁出")


class DrawError(ValueError):
    """The draw cannot be made; `str()` is a Chinese sentence for the user."""


class ShortageError(DrawError):
    def __init__(self, department: str, short_by: int, credit_code: str | None = None) -> None:
        self.department = department
        self.short_by = short_by
        self.credit_code = credit_code
        where = f"（对象 {credit_code}）" if credit_code else ""
        super().__init__(f"{department} 符合条件的执法检查人员不足{where}，还差 {short_by} 名。")


@dataclass(frozen=True)
class ObjectIn:
    credit_code: str
    risk_class: str | None
    status: str = ""
    industry: str = ""


@dataclass(frozen=True)
class InspectorIn:
    certificate_no: str
    department: str
    valid_until: date | None = None
    specialties: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True)
class DepartmentIn:
    code: str
    label: str  # the name used in error messages (short name)
    item_texts: tuple[str, ...] = ()  # name, object type, content of its items in this task
    declared: int | None = None  # inspectors it said it sends (派出 N 名); None: not limited


@dataclass(frozen=True)
class Rules:
    ratios: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    yearly_cap: int = 1
    per_department: int = 1
    min_per_object: int = 2
    closed_words: tuple[str, ...] = CLOSED_WORDS
    rotation: bool = True  # not the same inspector on the same enterprise in consecutive draws


@dataclass(frozen=True)
class DrawInputs:
    industry: str
    window_start: date
    window_end: date
    lead: str  # department code
    departments: tuple[DepartmentIn, ...]
    objects: tuple[ObjectIn, ...]
    inspectors: tuple[InspectorIn, ...]
    conflicts: frozenset[tuple[str, str]] = frozenset()  # (certificate_no, credit_code)
    prior: Mapping[str, int] = field(default_factory=dict)  # credit_code -> earlier draws
    rules: Rules = field(default_factory=Rules)
    # (certificate_no, credit_code) of the previous draw of the same items (rotation rule)
    previous: frozenset[tuple[str, str]] = frozenset()
    previous_tasks: tuple[int, ...] = ()  # the tasks `previous` was read from
    version: int = TEAMS_VERSION  # the assignment algorithm (1: before random teams)


@dataclass(frozen=True)
class DrawnObject:
    seq: int
    credit_code: str
    risk_class: str
    inspectors: tuple[tuple[str, str], ...]  # (department, certificate_no)


@dataclass(frozen=True)
class StratumCount:
    risk_class: str
    candidates: int
    drawn: int
    ratio: float


@dataclass(frozen=True)
class DrawResult:
    objects: tuple[DrawnObject, ...]
    strata: tuple[StratumCount, ...]
    excluded_closed: int
    excluded_cap: int

    def loads(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for obj in self.objects:
            for _, cert in obj.inspectors:
                found[cert] = found.get(cert, 0) + 1
        return found

    def to_json(self) -> str:
        return json.dumps(
            {
                # tuples serialise as JSON arrays: the same text as lists, several times faster
                "objects": [
                    [o.seq, o.credit_code, o.risk_class, o.inspectors] for o in self.objects
                ],
                "strata": [[s.risk_class, s.candidates, s.drawn, s.ratio] for s in self.strata],
                "excluded": [self.excluded_closed, self.excluded_cap],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


# -- canonical inputs -------------------------------------------------------------------------


def tags(text: str) -> set[str]:
    return {t.strip() for t in text.replace("，", "、").replace(",", "、").split("、") if t.strip()}


def canonical(inputs: DrawInputs) -> str:
    """The inputs as one canonical JSON text (sorted), the thing hashed and recorded."""
    r = inputs.rules
    data: dict[str, Any] = {
        "industry": inputs.industry,
        "window": [inputs.window_start.isoformat(), inputs.window_end.isoformat()],
        "lead": inputs.lead,
        "rules": {
            "ratios": {k: float(v) for k, v in sorted(r.ratios.items())},
            "yearly_cap": r.yearly_cap,
            "per_department": r.per_department,
            "min_per_object": r.min_per_object,
            "closed_words": sorted(r.closed_words),
        },
        "departments": [
            [d.code, d.label, sorted(d.item_texts)]
            for d in sorted(inputs.departments, key=lambda d: d.code)
        ],
        "objects": sorted(
            [o.credit_code, o.risk_class or "", o.status, o.industry] for o in inputs.objects
        ),
        "inspectors": sorted(
            [
                i.certificate_no,
                i.department,
                i.valid_until.isoformat() if i.valid_until else "",
                sorted(i.specialties),
                int(i.active),
            ]
            for i in inputs.inspectors
        ),
        "conflicts": sorted([c, o] for c, o in inputs.conflicts),
        "prior": sorted([k, v] for k, v in inputs.prior.items() if v),
    }
    if inputs.version >= 2:  # version 1 inputs keep the exact text (and hash) they had
        data["rules"]["rotation"] = r.rotation
        data["departments"] = [
            [d.code, d.label, sorted(d.item_texts), d.declared]
            for d in sorted(inputs.departments, key=lambda d: d.code)
        ]
        data["previous"] = sorted([c, o] for c, o in inputs.previous)
        data["previous_tasks"] = sorted(inputs.previous_tasks)
        data["version"] = inputs.version
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def from_canonical(text: str) -> DrawInputs:
    data = json.loads(text)
    r = data["rules"]
    version = int(data.get("version", 1))
    return DrawInputs(
        industry=data["industry"],
        window_start=date.fromisoformat(data["window"][0]),
        window_end=date.fromisoformat(data["window"][1]),
        lead=data["lead"],
        departments=tuple(
            DepartmentIn(d[0], d[1], tuple(d[2]), d[3] if len(d) > 3 else None)
            for d in data["departments"]
        ),
        objects=tuple(ObjectIn(c, rc or None, s, ind) for c, rc, s, ind in data["objects"]),
        inspectors=tuple(
            InspectorIn(c, d, date.fromisoformat(v) if v else None, tuple(sp), bool(a))
            for c, d, v, sp, a in data["inspectors"]
        ),
        conflicts=frozenset((c, o) for c, o in data["conflicts"]),
        prior={k: v for k, v in data["prior"]},
        rules=Rules(
            ratios=r["ratios"],
            yearly_cap=r["yearly_cap"],
            per_department=r["per_department"],
            min_per_object=r["min_per_object"],
            closed_words=tuple(r["closed_words"]),
            rotation=bool(r.get("rotation", True)),
        ),
        previous=frozenset((c, o) for c, o in data.get("previous", [])),
        previous_tasks=tuple(data.get("previous_tasks", [])),
        version=version,
    )


def input_hash(canonical_text: str) -> str:
    return hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()


def _rng(seed: str, *parts: object) -> random.Random:
    return random.Random(":".join([seed, ALGORITHM_VERSION, *map(str, parts)]))


# -- objects ----------------------------------------------------------------------------------


def stratum_size(candidates: int, ratio: float) -> int:
    """ceil(candidates × ratio / 100), exact; a non-empty stratum with a positive ratio
    yields at least one object, and never more than it holds."""
    if candidates <= 0 or ratio <= 0:
        return 0
    wanted = Fraction(str(ratio)) * candidates / 100
    return min(candidates, -(-wanted.numerator // wanted.denominator))


def is_closed(status: str, words: Iterable[str]) -> bool:
    return any(w in status for w in words)


def draw_objects(
    inputs: DrawInputs, seed: str
) -> tuple[list[tuple[str, str]], list[StratumCount], int, int]:
    """(credit_code, class) of the drawn objects in seq order, counts per stratum, excluded."""
    r = inputs.rules
    wanted = inputs.industry.strip()
    strata: dict[str, list[str]] = {}
    closed = capped = 0
    matches: dict[str, bool] = {}  # industry text -> has the tag (texts repeat a lot)
    for obj in inputs.objects:
        hit = matches.get(obj.industry)
        if hit is None:
            hit = matches[obj.industry] = wanted in tags(obj.industry)
        if not hit:
            continue
        if is_closed(obj.status, r.closed_words):
            closed += 1
            continue
        if inputs.prior.get(obj.credit_code, 0) >= r.yearly_cap:
            capped += 1
            continue
        cls = obj.risk_class if obj.risk_class in RISK_CLASSES else UNCLASSIFIED
        strata.setdefault(cls, []).append(obj.credit_code)
    drawn: list[tuple[str, str]] = []
    counts: list[StratumCount] = []
    for cls in (*RISK_CLASSES, UNCLASSIFIED):
        members = sorted(strata.get(cls, []))
        ratio = float(r.ratios.get(cls if cls != UNCLASSIFIED else "B", 0))
        n = stratum_size(len(members), ratio)
        picked = sorted(_rng(seed, "objects", cls).sample(members, n)) if n else []
        drawn.extend((code, cls) for code in picked)
        if members:
            counts.append(StratumCount(cls, len(members), n, ratio))
    return drawn, counts, closed, capped


# -- inspectors -------------------------------------------------------------------------------


def required_specialties(dept: DepartmentIn, inspectors: Iterable[InspectorIn]) -> set[str]:
    vocabulary = {s for i in inspectors if i.department == dept.code for s in i.specialties}
    return {s for s in vocabulary if any(s in text for text in dept.item_texts)}


def eligible(inputs: DrawInputs, dept: DepartmentIn) -> list[InspectorIn]:
    """Active, certified through the window, specialty-matched inspectors of `dept`, sorted."""
    needed = required_specialties(dept, inputs.inspectors)
    found = [
        i
        for i in inputs.inspectors
        if i.department == dept.code
        and i.active
        and (i.valid_until is None or i.valid_until >= inputs.window_end)
        and (not needed or needed & set(i.specialties))
    ]
    return sorted(found, key=lambda i: i.certificate_no)


def quotas(inputs: DrawInputs) -> dict[str, int]:
    """Inspectors per object from each department (the lead makes up the minimum). From
    version 2 a department that declared N inspectors sends at most N per object."""
    r = inputs.rules
    per = {d.code: r.per_department for d in inputs.departments}
    if inputs.version >= 2:
        per = {
            d.code: min(r.per_department, d.declared or r.per_department)
            for d in inputs.departments
        }
    short = r.min_per_object - sum(per.values())
    if short > 0:
        per[inputs.lead] = per.get(inputs.lead, 0) + short
    return per


def _pools(inputs: DrawInputs, seed: str) -> dict[str, deque[str]]:
    pools: dict[str, deque[str]] = {}
    need = quotas(inputs)
    for dept in sorted(inputs.departments, key=lambda d: d.code):
        certs = [i.certificate_no for i in eligible(inputs, dept)]
        if len(certs) < need[dept.code]:
            raise ShortageError(dept.label, need[dept.code] - len(certs))
        _rng(seed, "inspectors", dept.code).shuffle(certs)
        pools[dept.code] = deque(certs)
    return pools


def assign(inputs: DrawInputs, seed: str, objects: Sequence[tuple[str, str]]) -> list[DrawnObject]:
    """Inspectors for each (credit_code, class), numbered in the given order."""
    if inputs.version >= 2:
        return _assign_teams(inputs, seed, objects)
    pools = _pools(inputs, seed)
    need = quotas(inputs)
    labels = {d.code: d.label for d in inputs.departments}
    conflicts = inputs.conflicts
    result: list[DrawnObject] = []
    for seq, (code, cls) in enumerate(objects, start=1):
        team: list[tuple[str, str]] = []
        for dept, pool in pools.items():
            k = need[dept]
            if not conflicts:  # the fast path: the k who waited longest
                for _ in range(k):
                    cert = pool.popleft()
                    pool.append(cert)
                    team.append((dept, cert))
                continue
            taken: list[str] = []
            skipped: list[str] = []
            while len(taken) < k and pool:
                cert = pool.popleft()
                if (cert, code) in conflicts:
                    skipped.append(cert)
                else:
                    taken.append(cert)
            pool.extendleft(reversed(skipped))  # the skipped keep their place at the front
            pool.extend(taken)
            if len(taken) < k:
                raise ShortageError(labels[dept], k - len(taken), code)
            team.extend((dept, cert) for cert in taken)
        result.append(DrawnObject(seq, code, cls, tuple(team)))
    return result


# -- version 2: random teams ----------------------------------------------------------------------


def _teams_rng(seed: str, *parts: object) -> random.Random:
    return random.Random(":".join([seed, f"draw-{TEAMS_VERSION}", *map(str, parts)]))


def taking_part(inputs: DrawInputs, seed: str, dept: DepartmentIn) -> list[str]:
    """The inspectors of `dept` who take part in the task (version 2): all eligible ones, or
    `declared` of them drawn at random when the department said how many it sends."""
    certs = [i.certificate_no for i in eligible(inputs, dept)]
    if dept.declared is not None and dept.declared < len(certs):
        certs = sorted(_teams_rng(seed, "members", dept.code).sample(certs, dept.declared))
    return certs


class _Turns:
    """One department's inspectors in rounds: `waiting` have not had their turn this round,
    `ahead` were taken early (from the next round) around a conflict or the rotation rule."""

    __slots__ = ("ahead", "members", "waiting")

    def __init__(self, members: list[str]) -> None:
        self.members = members
        self.waiting = list(members)
        self.ahead: set[str] = set()

    def choose(
        self, k: int, rnd: random.Random, hard: set[str] | None, soft: set[str] | None
    ) -> list[tuple[str, int]]:
        """k distinct (certificate, index in waiting or -1) without changing anything: those
        whose turn it is first, then the next round, then anyone; `hard` never, `soft` only
        when nobody else is left. Fewer than k when the department runs short."""
        waiting = self.waiting
        n = len(waiting)
        if not hard and not soft and k <= n:  # the fast path: k of those whose turn it is
            if k == 1:
                i = int(rnd.random() * n)
                return [(waiting[i], i)]
            return [(waiting[i], i) for i in rnd.sample(range(n), k)]
        picked: list[tuple[str, int]] = []
        taken: set[str] = set()
        now = set(waiting)
        stages = (
            [(c, i) for i, c in enumerate(waiting)],
            [(c, -1) for c in self.members if c not in now and c not in self.ahead],
            [(c, -1) for c in self.members if c in self.ahead],
        )
        for avoid in (hard or set()) | (soft or set()), hard or set():
            for stage in stages:
                free = [(c, i) for c, i in stage if c not in avoid and c not in taken]
                while free and len(picked) < k:
                    c, i = free.pop(int(rnd.random() * len(free)))
                    picked.append((c, i))
                    taken.add(c)
                if len(picked) == k:
                    return picked
        return picked

    def commit(self, picked: list[tuple[str, int]]) -> None:
        waiting = self.waiting
        for _, i in sorted(((c, i) for c, i in picked if i >= 0), key=lambda p: -p[1]):
            waiting[i] = waiting[-1]
            waiting.pop()
        for c, i in picked:
            if i < 0:
                self.ahead.add(c)
        if not waiting:  # the round is over: everyone again, but those who went ahead
            ahead = self.ahead
            waiting.extend([c for c in self.members if c not in ahead] if ahead else self.members)
            ahead.clear()
            if not waiting:
                waiting.extend(self.members)


def _assign_teams(
    inputs: DrawInputs, seed: str, objects: Sequence[tuple[str, str]]
) -> list[DrawnObject]:
    need = quotas(inputs)
    depts = sorted(inputs.departments, key=lambda d: d.code)
    turns: list[tuple[str, str, int, _Turns]] = []
    for dept in depts:
        members = taking_part(inputs, seed, dept)
        k = need[dept.code]
        if len(members) < k:
            raise ShortageError(dept.label, k - len(members))
        turns.append((dept.code, dept.label, k, _Turns(members)))
    hard: dict[str, set[str]] = {}
    for cert, code in inputs.conflicts:
        hard.setdefault(code, set()).add(cert)
    soft: dict[str, set[str]] = {}
    if inputs.rules.rotation:
        for cert, code in inputs.previous:
            soft.setdefault(code, set()).add(cert)
    rnd = _teams_rng(seed, "teams")
    rand = rnd.random
    codes = [code for code, _, _, _ in turns]
    single = all(k == 1 for _, _, k, _ in turns)
    seen: set[tuple[str, ...]] = set()
    result: list[DrawnObject] = []
    tlist = [t for _, _, _, t in turns]
    waitings = [t.waiting for t in tlist]  # the same lists `_Turns` changes in place
    for seq, (code, cls) in enumerate(objects, start=1):
        no, maybe_not = hard.get(code), soft.get(code)
        if single and no is None and maybe_not is None:
            # the common case, written out for speed: the same as `_Turns.choose` with k = 1
            # and nothing to avoid, then `_Turns.commit`
            idx = [int(rand() * len(w)) for w in waitings]
            key = tuple(map(getitem, waitings, idx))
            if key not in seen:
                seen.add(key)
                for w, i, t in zip(waitings, idx, tlist, strict=True):
                    w[i] = w[-1]
                    w.pop()
                    if not w:
                        t.commit([])
                result.append(DrawnObject(seq, code, cls, tuple(zip(codes, key, strict=True))))
                continue
            picks = [[(c, i)] for c, i in zip(key, idx, strict=True)]
        else:
            picks = _pick(turns, rnd, no, maybe_not, code)
            key = tuple(_flat(picks))
        if key in seen:
            options = 1
            for _, _, k, t in turns:
                options *= max(1, len(t.waiting) - k + 1)
            for _ in range(min(TEAM_TRIES, options) - 1):
                picks = _pick(turns, rnd, no, maybe_not, code)
                key = tuple(_flat(picks))
                if key not in seen:
                    break
        seen.add(key)
        team: list[tuple[str, str]] = []
        for (_, _, _, t), dept_code, found in zip(turns, codes, picks, strict=True):
            if len(found) == 1 and found[0][1] >= 0:
                waiting, i = t.waiting, found[0][1]
                waiting[i] = waiting[-1]
                waiting.pop()
                if not waiting:
                    t.commit([])
            else:
                t.commit(found)
            team.extend([(dept_code, c) for c, _ in found])
        result.append(DrawnObject(seq, code, cls, tuple(team)))
    return result


def _pick(
    turns: list[tuple[str, str, int, _Turns]],
    rnd: random.Random,
    hard: set[str] | None,
    soft: set[str] | None,
    code: str,
) -> list[list[tuple[str, int]]]:
    picks = []
    for _, label, k, t in turns:
        found = t.choose(k, rnd, hard, soft)
        if len(found) < k:
            raise ShortageError(label, k - len(found), code)
        picks.append(found)
    return picks


def _flat(picks: list[list[tuple[str, int]]]) -> list[str]:
    return [c for found in picks for c, _ in found]


def draw(inputs: DrawInputs, seed: str) -> DrawResult:
    if not inputs.departments:
        raise DrawError("任务没有参加部门，无法抽取。")
    picked, strata, closed, capped = draw_objects(inputs, seed)
    if not picked:
        raise DrawError(f"对象名录中没有可抽取的「{inputs.industry}」对象。")
    return DrawResult(tuple(assign(inputs, seed, picked)), tuple(strata), closed, capped)


def assign_only(inputs: DrawInputs, seed: str, codes: Sequence[tuple[str, str]]) -> DrawResult:
    """Inspectors drawn for objects drawn elsewhere (the provincial platform's list)."""
    return DrawResult(tuple(assign(inputs, seed, codes)), (), 0, 0)


def replacement(
    inputs: DrawInputs,
    seed: str,
    counter: int,
    department: str,
    credit_code: str,
    team: Iterable[str],
    loads: Mapping[str, int],
    excluded: Iterable[str] = (),
) -> str:
    """A fresh inspector of `department` for one object: eligible, not on the team, no conflict
    with the enterprise, not `excluded`; the least loaded, ties drawn with the recorded seed and
    the replacement counter. From version 2, once a department that declared N inspectors
    has N of them in the task (`loads`), only those N are drawn from. Raises ShortageError
    when nobody is left."""
    dept = next(d for d in inputs.departments if d.code == department)
    busy = set(team) | set(excluded)
    pool = [i.certificate_no for i in eligible(inputs, dept)]
    if inputs.version >= 2 and dept.declared is not None:
        in_task = [c for c in pool if loads.get(c, 0) > 0]
        if len(in_task) >= dept.declared:
            pool = in_task
    candidates = [c for c in pool if c not in busy and (c, credit_code) not in inputs.conflicts]
    if not candidates:
        raise ShortageError(dept.label, 1, credit_code)
    low = min(loads.get(c, 0) for c in candidates)
    lightest = sorted(c for c in candidates if loads.get(c, 0) == low)
    return _rng(seed, "replace", counter).choice(lightest)


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    algorithm_ok: bool  # recorded with this algorithm version
    hash_ok: bool  # the recorded inputs hash to the recorded SHA-256
    result_ok: bool | None  # the re-run gives the recorded result (None: nothing to re-run)

    @property
    def identical(self) -> bool:
        return self.algorithm_ok and self.hash_ok and self.result_ok is not False


def verify(
    *,
    source: str,
    seed: str,
    algorithm: str,
    recorded_hash: str,
    inputs_text: str,
    result_text: str,
) -> Verification:
    """Re-run a recorded draw. A platform draw re-runs only the inspectors the bot drew for it
    (seed recorded); one whose inspectors were imported too has nothing to re-run."""
    return rerun(
        source=source,
        seed=seed,
        algorithm=algorithm,
        recorded_hash=recorded_hash,
        inputs_text=inputs_text,
        result_text=result_text,
    )[0]


def rerun(
    *,
    source: str,
    seed: str,
    algorithm: str,
    recorded_hash: str,
    inputs_text: str,
    result_text: str,
) -> tuple[Verification, tuple[DrawnObject, ...] | None, DrawInputs | None]:
    """`verify`, the objects the re-run drew (None when nothing was re-run or it failed) and
    the parsed inputs (None when not parsed): the base that later changes are replayed on
    (bot.domain.draw_audit)."""
    algorithm_ok = algorithm == ALGORITHM_VERSION
    hash_ok = input_hash(inputs_text) == recorded_hash
    if not algorithm_ok or not seed:
        return Verification(algorithm_ok, hash_ok, None), None, None
    inputs = from_canonical(inputs_text)
    try:
        if source == "bot":
            again = draw(inputs, seed)
        else:
            recorded = json.loads(result_text)
            again = assign_only(inputs, seed, [(o[1], o[2]) for o in recorded["objects"]])
    except DrawError:
        return Verification(algorithm_ok, hash_ok, False), None, inputs
    return (
        Verification(algorithm_ok, hash_ok, again.to_json() == result_text),
        again.objects,
        inputs,
    )
