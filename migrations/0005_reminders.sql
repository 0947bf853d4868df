-- Durable reminders (issue 6): every reminder is a row; the engine (bot/reminders.py) fires a
-- due row by marking it in the same transaction that queues its outbox messages, so a reminder
-- is never sent twice and never silently dropped. Plus the series they serve: quarterly
-- progress reports, pre-inspection training, result deadlines; and holidays set by /holiday.

CREATE TABLE reminders (
    id          INTEGER PRIMARY KEY,
    series      TEXT NOT NULL,              -- e.g. 'report:2026Q4', 'training:3', 'result:12'
    kind        TEXT NOT NULL,              -- report.before, report.overdue, report.escalate,
                                            -- training.remind, training.nudge, training.summary,
                                            -- result.before, result.overdue
    tg_user_id  INTEGER NOT NULL,           -- recipient
    due_at      TEXT NOT NULL,              -- UTC, quiet hours already applied
    purpose_at  TEXT,                       -- UTC, the event it is about (deadline, session)
    payload     TEXT NOT NULL DEFAULT '{}', -- JSON
    dedup_key   TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'fired', 'digested', 'skipped', 'cancelled')),
    done_at     TEXT,                       -- UTC, when it left 'pending'
    outbox_id   INTEGER,                    -- the message that carried it
    created_at  TEXT NOT NULL
);
CREATE INDEX reminders_pending ON reminders(due_at) WHERE status = 'pending';
CREATE INDEX reminders_user ON reminders(tg_user_id, status);
CREATE INDEX reminders_series ON reminders(series);

-- A series an administrator paused: its rows stay pending and are not sent until resumed.
CREATE TABLE reminder_series_paused (
    series      TEXT PRIMARY KEY,
    paused_by   INTEGER NOT NULL,
    paused_at   TEXT NOT NULL
);

-- Holidays and make-up working days (调休) set with /holiday, on top of chinese-calendar and
-- the TOML [calendar] section.
CREATE TABLE calendar_days (
    day         TEXT PRIMARY KEY,           -- ISO date
    kind        TEXT NOT NULL CHECK (kind IN ('holiday', 'workday')),
    note        TEXT NOT NULL DEFAULT '',
    added_by    INTEGER,
    added_at    TEXT NOT NULL
);

-- Quarterly progress reports: one row per period and department once submitted.
CREATE TABLE quarterly_reports (
    period           TEXT NOT NULL,         -- '2026Q4' (its deadline is in the config)
    department_code  TEXT NOT NULL REFERENCES departments(code) ON UPDATE CASCADE,
    how              TEXT NOT NULL CHECK (how IN ('upload', 'other')),
    file_id          TEXT,
    file_name        TEXT,
    file_size        INTEGER,
    note             TEXT NOT NULL DEFAULT '',
    submitted_by     INTEGER NOT NULL,      -- Telegram user id
    submitted_at     TEXT NOT NULL,
    PRIMARY KEY (period, department_code)
);

-- Pre-inspection training sessions (查前培训), for a task (department_code NULL: the lead's)
-- or a department's own session for that task.
CREATE TABLE trainings (
    id               INTEGER PRIMARY KEY,
    task_id          INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    department_code  TEXT REFERENCES departments(code) ON UPDATE CASCADE,
    starts_at        TEXT NOT NULL,         -- UTC
    place            TEXT NOT NULL,         -- a place or an online link
    notes            TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'cancelled')),
    version          INTEGER NOT NULL DEFAULT 1,  -- +1 per move; older reminders are cancelled
    created_by       INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE training_answers (
    training_id  INTEGER NOT NULL REFERENCES trainings(id) ON DELETE CASCADE,
    tg_user_id   INTEGER NOT NULL,
    answer       TEXT NOT NULL CHECK (answer IN ('attend', 'leave')),
    reason       TEXT NOT NULL DEFAULT '',
    answered_at  TEXT NOT NULL,
    PRIMARY KEY (training_id, tg_user_id)
);

-- Typed input a person owes these features (a 请假 reason, training details, a report note),
-- kept here so a restart loses nothing; the group -4 handler acts only when a row exists.
CREATE TABLE reminder_flows (
    tg_user_id  INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,              -- training | leave | report
    step        TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}', -- JSON
    updated_at  TEXT NOT NULL
);
