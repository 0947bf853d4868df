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
    names one, specialty is not used). Each object gets `per_department` inspectors from every
    participating department and at least `min_per_object` in all (the lead department makes up
    the difference). Never an inspector with a declared conflict (回避) with that enterprise.
    Within a department the eligible inspectors are shuffled once (seeded) and taken
    least-recently-used: the one who waited longest goes next, and one skipped for a conflict
    stays at the front. Loads therefore differ by at most one, except around conflicts.
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

ALGORITHM_VERSION = "draw-1"
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


@dataclass(frozen=True)
class Rules:
    ratios: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))
    yearly_cap: int = 1
    per_department: int = 1
    min_per_object: int = 2
    closed_words: tuple[str, ...] = CLOSED_WORDS


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
    data = {
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
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def from_canonical(text: str) -> DrawInputs:
    data = json.loads(text)
    r = data["rules"]
    return DrawInputs(
        industry=data["industry"],
        window_start=date.fromisoformat(data["window"][0]),
        window_end=date.fromisoformat(data["window"][1]),
        lead=data["lead"],
        departments=tuple(DepartmentIn(c, label, tuple(t)) for c, label, t in data["departments"]),
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
        ),
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
    for obj in inputs.objects:
        if wanted not in tags(obj.industry):
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
    """Inspectors per object from each department (the lead makes up the minimum)."""
    r = inputs.rules
    per = {d.code: r.per_department for d in inputs.departments}
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
    the replacement counter. Raises ShortageError when nobody is left."""
    dept = next(d for d in inputs.departments if d.code == department)
    busy = set(team) | set(excluded)
    candidates = [
        i.certificate_no
        for i in eligible(inputs, dept)
        if i.certificate_no not in busy and (i.certificate_no, credit_code) not in inputs.conflicts
    ]
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
