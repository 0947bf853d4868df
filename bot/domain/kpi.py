"""The county's targets and the other statistics, computed from plain facts. Pure: no Telegram,
no database (bot/store/stats.py builds the facts). Every formula is written out here and in the
README ("How the targets are computed"); the choices are `KpiRules`, read from `[stats]`.

Scope. A task belongs to a period when its inspection window *starts* in it (Beijing dates). A
task is an *inspection* when its state is in `rules.counted_states` (default: confirmed, drawn,
inspecting, publishing, done: neither still inviting nor cancelled).

For one department D, "D's tasks" are, with `partner_counting`:
  * "lead_only"        – the tasks D leads (a department that only joins has none: "—");
  * "all_participants" – the tasks D leads or joined as a partner.
County-wide, every counted task counts once.

1. Joint ratio (target 60%)         = joint tasks / tasks
   (joint: at least one partner department joined; otherwise a single-department inspection)
2. Joint enterprise ratio (50%)     = distinct enterprises checked in joint tasks
                                      / distinct enterprises checked in all tasks
   (checked: drawn for a counted task; with enterprise_basis = "entered", only those with at
   least one result entered)
3. Risk-class ratio (95%)           = tasks whose draw used credit-risk classes / tasks drawn
   (a draw used classes when the share of classified objects (class A–D) in its population is
   at least `risk_classified_share` (default 90%): for a bot draw the population is the
   eligible objects it drew from (its strata), for a platform draw, whose population the bot
   does not see, the objects drawn; so a county that never imported grades scores 0%, not
   100%; tasks not yet drawn are left out of both sides; with risk_single_counts = false,
   single-department tasks are left out of both sides)
4. Completion rate                  = published entries / expected entries
   (expected: one entry per drawn object and participating department, lead and joined;
   for D: D's own entries in the tasks D takes part in)
5. Follow-up closure rate           = closed follow-ups / entries needing follow-up
   (needing: an entry with a follow-up measure other than 无须后续处置)
6. Results overdue                  = expected entries not published whose result deadline
                                      (`[results] working_days` after the window) has passed
7. Training attendance              = 参加 answers / all answers, over active sessions
8. Report submissions               = quarterly reports submitted / reports due
   (due: each department × each quarter of the period whose deadline has passed, plus any
   report already submitted before its deadline)

A ratio with an empty denominator is None, shown as "—" (never a division by zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

PartnerCounting = Literal["lead_only", "all_participants"]
EnterpriseBasis = Literal["drawn", "entered"]
RISK_CLASSES = frozenset("ABCD")
DEFAULT_COUNTED = ("confirmed", "drawn", "inspecting", "publishing", "done")
NO_PROBLEM = 1  # 未发现问题


@dataclass(frozen=True)
class KpiRules:
    target_joint: float = 0.60
    target_joint_enterprises: float = 0.50
    target_risk: float = 0.95
    risk_classified_share: float = 0.90  # a draw uses classes when this share was classified
    counted_states: tuple[str, ...] = DEFAULT_COUNTED
    partner_counting: PartnerCounting = "lead_only"
    risk_single_counts: bool = True
    enterprise_basis: EnterpriseBasis = "drawn"
    problem_categories: tuple[int, ...] = (2, 3, 4, 5, 6, 7)


@dataclass(frozen=True)
class Period:
    """A quarter ('2026Q4') or a year ('2026'), Beijing dates, both ends inclusive."""

    key: str
    start: date
    end: date

    @property
    def label(self) -> str:
        if "Q" in self.key:
            return f"{self.key[:4]}年第{'一二三四'[int(self.key[-1]) - 1]}季度"
        return f"{self.key}年度"

    @property
    def quarters(self) -> tuple[str, ...]:
        if "Q" in self.key:
            return (self.key,)
        return tuple(f"{self.key}Q{q}" for q in range(1, 5))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def quarter_of(day: date) -> Period:
    q = (day.month - 1) // 3 + 1
    start = date(day.year, 3 * q - 2, 1)
    end = date(day.year + 1, 1, 1) if q == 4 else date(day.year, 3 * q + 1, 1)
    return Period(f"{day.year}Q{q}", start, date.fromordinal(end.toordinal() - 1))


def year_of(day: date) -> Period:
    return Period(str(day.year), date(day.year, 1, 1), date(day.year, 12, 31))


def parse_period(text: str | None, today: date, default: str = "quarter") -> Period | None:
    """'quarter'/'季度', 'year'/'年度', '2026Q4', '2026' or nothing (the default kind)."""
    word = (text or default).strip().lower()
    if word in ("quarter", "q", "季度", "本季度"):
        return quarter_of(today)
    if word in ("year", "y", "年度", "本年", "全年"):
        return year_of(today)
    word = word.upper()
    if len(word) == 6 and word[:4].isdigit() and word[4] == "Q" and word[5] in "1234":
        return quarter_of(date(int(word[:4]), 3 * int(word[5]) - 2, 1))
    if len(word) == 4 and word.isdigit() and 2000 <= int(word) <= 2100:
        return year_of(date(int(word), 1, 1))
    return None


@dataclass(frozen=True)
class ObjectFact:
    seq: int
    credit_code: str
    risk_class: str  # 'A'–'D', or '-'/'' when the object carried no class


@dataclass(frozen=True)
class TaskFact:
    task_id: int
    state: str
    lead: str
    window_start: date
    joined: tuple[str, ...] = ()  # partner departments that joined
    draw_source: str | None = None  # 'bot' | 'platform' | None (not drawn)
    objects: tuple[ObjectFact, ...] = ()
    result_deadline: date | None = None
    # (classified, all) eligible objects the draw drew from; None: not known (platform draw)
    population: tuple[int, int] | None = None

    @property
    def joint(self) -> bool:
        return bool(self.joined)

    @property
    def departments(self) -> tuple[str, ...]:
        return (self.lead, *self.joined)

    @property
    def drawn(self) -> bool:
        return self.draw_source is not None

    @property
    def classified_share(self) -> float | None:
        """The share of classified objects in the draw's population (the drawn objects when
        the population is not known); None when there is nothing to count."""
        if self.population is not None:
            classified, total = self.population
        else:
            classified = sum(o.risk_class in RISK_CLASSES for o in self.objects)
            total = len(self.objects)
        return classified / total if total else None

    def uses_risk_classes(self, threshold: float) -> bool:
        share = self.classified_share
        return self.drawn and share is not None and share >= threshold


@dataclass(frozen=True)
class ResultFact:
    task_id: int
    seq: int
    department: str
    state: str  # pending | returned | published
    categories: tuple[int, ...] = ()
    followup: str | None = None  # none | rectify | refer | notify
    followup_state: str | None = None  # open | closed

    @property
    def needs_followup(self) -> bool:
        return self.followup not in (None, "none") or self.followup_state is not None

    @property
    def published(self) -> bool:
        return self.state == "published"


@dataclass(frozen=True)
class TrainingFact:
    task_id: int
    department: str  # the department whose session it is (the lead's when not given)
    attend: int = 0
    leave: int = 0


@dataclass(frozen=True)
class Facts:
    period: Period
    today: date
    departments: dict[str, str]  # code -> name, in display order
    tasks: tuple[TaskFact, ...] = ()
    results: tuple[ResultFact, ...] = ()
    trainings: tuple[TrainingFact, ...] = ()
    reports: frozenset[tuple[str, str]] = frozenset()  # (quarter key, department) submitted
    reports_due: tuple[str, ...] = ()  # quarter keys of the period whose deadline has passed


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int
    target: float | None = None

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target - 1e-12

    @property
    def shown(self) -> str:
        return percent(self.value)

    @property
    def mark(self) -> str:
        return {True: "✅", False: "⚠️", None: "—"}[self.met]


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Kpis:
    scope: str | None  # None: county-wide, else a department code
    tasks: int
    tasks_led: int
    tasks_joined: int
    joint: Ratio
    joint_enterprises: Ratio
    risk: Ratio
    completion: Ratio
    followup: Ratio
    overdue: int
    training: Ratio
    trainings_held: int
    reports: Ratio
    enterprises: int
    categories: dict[int, int] = field(default_factory=dict)  # code -> entries
    problems: int = 0  # entries with a problem category
    problems_followup_open: int = 0
    problems_followup_closed: int = 0

    @property
    def targets(self) -> tuple[Ratio, Ratio, Ratio]:
        return (self.joint, self.joint_enterprises, self.risk)

    @property
    def idle(self) -> bool:
        """Nothing to show but the quarterly reports: no task led or joined, no result entry
        expected, no follow-up, no training, nothing overdue. /stats folds such departments
        into one line."""
        return (
            self.tasks == 0
            and self.tasks_joined == 0
            and self.overdue == 0
            and self.trainings_held == 0
            and all(
                r.denominator == 0
                for r in (*self.targets, self.completion, self.followup, self.training)
            )
        )


def counted(facts: Facts, rules: KpiRules) -> list[TaskFact]:
    """The inspections of the period: counted state, window starting in the period."""
    return [
        t
        for t in facts.tasks
        if t.state in rules.counted_states and facts.period.contains(t.window_start)
    ]


def tasks_of(tasks: Iterable[TaskFact], department: str | None, rules: KpiRules) -> list[TaskFact]:
    if department is None:
        return list(tasks)
    if rules.partner_counting == "all_participants":
        return [t for t in tasks if department in t.departments]
    return [t for t in tasks if t.lead == department]


def _checked(task: TaskFact, entered: set[tuple[int, int]], rules: KpiRules) -> set[str]:
    if rules.enterprise_basis == "entered":
        return {o.credit_code for o in task.objects if (task.task_id, o.seq) in entered}
    return {o.credit_code for o in task.objects}


def compute(facts: Facts, rules: KpiRules, department: str | None = None) -> Kpis:
    """All statistics for the county (department None) or one department."""
    inspections = counted(facts, rules)
    mine = tasks_of(inspections, department, rules)
    entered = {(r.task_id, r.seq) for r in facts.results}

    joint = Ratio(sum(t.joint for t in mine), len(mine), rules.target_joint)

    all_codes: set[str] = set()
    joint_codes: set[str] = set()
    for t in mine:
        codes = _checked(t, entered, rules)
        all_codes |= codes
        if t.joint:
            joint_codes |= codes
    joint_enterprises = Ratio(len(joint_codes), len(all_codes), rules.target_joint_enterprises)

    risk_scope = [t for t in mine if t.drawn and (rules.risk_single_counts or t.joint)]
    risk = Ratio(
        sum(t.uses_risk_classes(rules.risk_classified_share) for t in risk_scope),
        len(risk_scope),
        rules.target_risk,
    )

    # Entries: one per drawn object and participating department (D's own for a department).
    involved = [t for t in inspections if department is None or department in t.departments]
    by_key = {(r.task_id, r.seq, r.department): r for r in facts.results}
    expected = published = overdue = 0
    results: list[ResultFact] = []
    for t in involved:
        depts = t.departments if department is None else (department,)
        late = t.result_deadline is not None and t.result_deadline < facts.today
        for o in t.objects:
            for d in depts:
                expected += 1
                r = by_key.get((t.task_id, o.seq, d))
                if r is not None:
                    results.append(r)
                if r is not None and r.published:
                    published += 1
                elif late:
                    overdue += 1
    completion = Ratio(published, expected)
    needing = [r for r in results if r.needs_followup]
    closed = sum(r.followup_state == "closed" for r in needing)
    followup = Ratio(closed, len(needing))

    categories: dict[int, int] = {}
    problems = 0
    problem_open = problem_closed = 0
    problem_set = set(rules.problem_categories)
    for r in results:
        for c in r.categories:
            categories[c] = categories.get(c, 0) + 1
        if problem_set & set(r.categories):
            problems += 1
            if r.followup_state == "closed":
                problem_closed += 1
            elif r.needs_followup:
                problem_open += 1

    task_ids = {t.task_id for t in involved}
    sessions = [
        s
        for s in facts.trainings
        if s.task_id in task_ids and (department is None or s.department == department)
    ]
    attend = sum(s.attend for s in sessions)
    training = Ratio(attend, attend + sum(s.leave for s in sessions))

    scope_depts = list(facts.departments) if department is None else [department]
    due = [
        (q, d)
        for q in facts.period.quarters
        for d in scope_depts
        if q in facts.reports_due or (q, d) in facts.reports
    ]
    reports = Ratio(sum(k in facts.reports for k in due), len(due))

    return Kpis(
        scope=department,
        tasks=len(mine),
        tasks_led=sum(1 for t in inspections if department is None or t.lead == department),
        tasks_joined=sum(
            1 for t in inspections if department is not None and department in t.joined
        ),
        joint=joint,
        joint_enterprises=joint_enterprises,
        risk=risk,
        completion=completion,
        followup=followup,
        overdue=overdue,
        training=training,
        trainings_held=len(sessions),
        reports=reports,
        enterprises=len(all_codes),
        categories=dict(sorted(categories.items())),
        problems=problems,
        problems_followup_open=problem_open,
        problems_followup_closed=problem_closed,
    )


def by_department(facts: Facts, rules: KpiRules) -> list[Kpis]:
    return [compute(facts, rules, code) for code in facts.departments]


def reports_due(period: Period, deadlines: dict[str, date], today: date) -> tuple[str, ...]:
    """Quarter keys of `period` whose report deadline has passed (`deadlines`: key -> date)."""
    return tuple(k for k in period.quarters if k in deadlines and deadlines[k] < today)
