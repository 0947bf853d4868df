-- The double-random draw (双随机) of a confirmed joint inspection, its inspectors' notices and
-- acknowledgements, declared conflicts of interest (回避) and swaps. See bot/domain/draw.py.

-- One draw per task: the bot's own (source 'bot') or the provincial platform's (source
-- 'platform'; its objects are imported, inspectors imported or drawn by the bot).
CREATE TABLE draws (
    task_id         INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    source          TEXT NOT NULL CHECK (source IN ('bot', 'platform')),
    seed            TEXT NOT NULL,
    algorithm       TEXT NOT NULL,                 -- bot.domain.draw.ALGORITHM_VERSION
    input_hash      TEXT NOT NULL,                 -- SHA-256 of the canonical inputs
    inputs          BLOB NOT NULL,                 -- zlib-compressed canonical inputs (JSON)
    result          BLOB NOT NULL,                 -- zlib-compressed result as first drawn
    drawn_by        INTEGER NOT NULL,              -- Telegram user id
    created_at      TEXT NOT NULL
);

-- The drawn objects, numbered 1… per task.
CREATE TABLE draw_objects (
    task_id      INTEGER NOT NULL REFERENCES draws(task_id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    credit_code  TEXT NOT NULL,
    risk_class   TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
CREATE INDEX draw_objects_code ON draw_objects(credit_code);

-- Inspectors per object. A replaced row keeps who replaced it and why.
CREATE TABLE draw_assignments (
    id               INTEGER PRIMARY KEY,
    task_id          INTEGER NOT NULL REFERENCES draws(task_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    inspector_id     INTEGER NOT NULL REFERENCES inspectors(id),
    department_code  TEXT NOT NULL,
    replaced_at      TEXT,
    replaced_by      INTEGER REFERENCES draw_assignments(id),
    replace_reason   TEXT,
    replace_kind     TEXT CHECK (replace_kind IN ('conflict', 'swap')),
    created_at       TEXT NOT NULL
);
CREATE INDEX draw_assignments_task ON draw_assignments(task_id, seq);
CREATE INDEX draw_assignments_inspector ON draw_assignments(inspector_id);

-- One notice per inspector and task: delivery, acknowledgement (收到), reminder, escalation.
CREATE TABLE draw_notices (
    task_id       INTEGER NOT NULL REFERENCES draws(task_id) ON DELETE CASCADE,
    inspector_id  INTEGER NOT NULL REFERENCES inspectors(id),
    notified_at   TEXT NOT NULL,
    reachable     INTEGER NOT NULL,               -- 0: never opened the bot; the liaison was told
    acked_at      TEXT,
    reminded_at   TEXT,
    escalated_at  TEXT,
    PRIMARY KEY (task_id, inspector_id)
);

-- Declared conflicts of interest (回避): never drawn for that enterprise again.
CREATE TABLE draw_conflicts (
    inspector_id  INTEGER NOT NULL REFERENCES inspectors(id),
    credit_code   TEXT NOT NULL,
    task_id       INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    reason        TEXT NOT NULL,
    declared_at   TEXT NOT NULL,
    PRIMARY KEY (inspector_id, credit_code)
);

-- Typed input this person owes the draw feature: a 回避 reason, or the platform's draw file.
CREATE TABLE draw_pending (
    tg_user_id  INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('conflict', 'import')),
    task_id     INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq         INTEGER,
    created_at  TEXT NOT NULL
);
