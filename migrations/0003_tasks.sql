-- Joint inspections (一业一查): a lead department proposes a task and invites partner
-- departments; each answers (参加 with its items and inspector count, or 不参加 with a reason);
-- unanswered departments are reminded, the lead is told when the reply deadline passes.
--   inviting -> confirmed -> (drawn -> inspecting -> publishing -> done, later releases);
--   any open state -> cancelled. See bot/domain/tasks.py.

CREATE TABLE tasks (
    id                  INTEGER PRIMARY KEY,
    industry            TEXT NOT NULL,                 -- 一业一查 scenario, e.g. 养老机构
    lead_department     TEXT NOT NULL REFERENCES departments(code) ON UPDATE CASCADE,
    lead_items          TEXT NOT NULL DEFAULT '[]',    -- JSON list of item codes
    window_start        TEXT NOT NULL,                 -- ISO date (Beijing), inclusive
    window_end          TEXT NOT NULL,                 -- ISO date (Beijing), inclusive
    reply_deadline      TEXT NOT NULL,                 -- UTC
    deadline_set_at     TEXT NOT NULL,                 -- UTC; reminder slots before it are skipped
    deadline_version    INTEGER NOT NULL DEFAULT 1,    -- +1 per extension; stale buttons refused
    escalated_deadline  TEXT,                          -- the reply_deadline already escalated
    notes               TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT 'inviting'
                        CHECK (state IN ('inviting', 'confirmed', 'drawn', 'inspecting',
                                         'publishing', 'done', 'cancelled')),
    joint               INTEGER,                       -- set on confirmation: 1 joint, 0 single
    proposed_by         INTEGER NOT NULL,              -- Telegram user id
    card_outbox_id      INTEGER REFERENCES outbox(id), -- the card in the coordination group
    confirmed_at        TEXT,
    cancelled_at        TEXT,
    cancelled_by        INTEGER,
    cancel_reason       TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX tasks_open ON tasks(state) WHERE state NOT IN ('done', 'cancelled');

-- One row per invited (partner) department.
CREATE TABLE task_invitations (
    task_id          INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    department_code  TEXT NOT NULL REFERENCES departments(code) ON UPDATE CASCADE,
    answer           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (answer IN ('pending', 'joined', 'declined')),
    reason           TEXT,                             -- why it declined
    items            TEXT NOT NULL DEFAULT '[]',       -- JSON item codes it checks when joining
    inspectors       INTEGER,                          -- how many inspectors it sends
    answered_by      INTEGER,                          -- Telegram user id
    answered_at      TEXT,
    PRIMARY KEY (task_id, department_code)
);

-- Private copies of the invitation (one per liaison), so closing the task removes their buttons.
CREATE TABLE task_messages (
    task_id          INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    outbox_id        INTEGER NOT NULL REFERENCES outbox(id),
    department_code  TEXT NOT NULL,                    -- the department it invites to answer
    PRIMARY KEY (task_id, outbox_id)
);

-- Reminder slots already sent: one row per task, department and slot, written in the same
-- transaction that queues the reminder, so a slot never fires twice.
CREATE TABLE task_reminders (
    task_id          INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    department_code  TEXT NOT NULL,
    slot             TEXT NOT NULL,                    -- UTC time of the slot
    sent_at          TEXT NOT NULL,
    PRIMARY KEY (task_id, department_code, slot)
);

-- Guided conversations in private chat, kept here so a restart loses nothing:
-- family 'propose' (/newtask), 'answer' (joining, declining, cancelling a task).
CREATE TABLE task_flows (
    id               INTEGER PRIMARY KEY,
    tg_user_id       INTEGER NOT NULL,
    family           TEXT NOT NULL CHECK (family IN ('propose', 'answer')),
    kind             TEXT NOT NULL,                    -- propose | join | decline | cancel
    step             TEXT NOT NULL,
    task_id          INTEGER REFERENCES tasks(id) ON DELETE CASCADE,
    department_code  TEXT,
    data             TEXT NOT NULL DEFAULT '{}',       -- JSON
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (tg_user_id, family)
);

-- Years the PRC holiday calendar had no data for, and the administrators were told.
CREATE TABLE calendar_gaps (
    year        INTEGER PRIMARY KEY,
    noticed_at  TEXT NOT NULL
);
