-- Foundation schema: people and roles, the county directories (一单两库),
-- onboarding codes, known chats and the audit log.
-- Timestamps are UTC ISO-8601 strings ("2026-11-26T03:00:00Z"), written by the application clock.

CREATE TABLE departments (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- A Telegram account the bot knows. Rows appear when someone onboards or an admin writes.
CREATE TABLE people (
    id          INTEGER PRIMARY KEY,
    tg_user_id  INTEGER NOT NULL UNIQUE,
    full_name   TEXT NOT NULL,
    username    TEXT,
    is_admin    INTEGER NOT NULL DEFAULT 0,   -- promoted administrators; BOT_ADMINS are added at run time
    reachable   INTEGER NOT NULL DEFAULT 1,   -- 0 once Telegram says the user blocked the bot
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE liaisons (
    person_id        INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    department_code  TEXT NOT NULL REFERENCES departments(code) ON UPDATE CASCADE,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (person_id, department_code)
);

-- 执法检查人员名录库. A row exists from import; person_id is set when the inspector onboards.
CREATE TABLE inspectors (
    id                      INTEGER PRIMARY KEY,
    certificate_no          TEXT NOT NULL UNIQUE,
    name                    TEXT NOT NULL,
    department_code         TEXT NOT NULL REFERENCES departments(code) ON UPDATE CASCADE,
    certificate_valid_until TEXT,               -- ISO date, inclusive
    specialties             TEXT NOT NULL DEFAULT '',   -- '、'-separated
    active                  INTEGER NOT NULL DEFAULT 1,
    person_id               INTEGER UNIQUE REFERENCES people(id) ON DELETE SET NULL,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX inspectors_department ON inspectors(department_code);

-- 检查对象名录库
CREATE TABLE objects (
    credit_code  TEXT PRIMARY KEY,              -- 统一社会信用代码, GB 32100-2015
    name         TEXT NOT NULL,
    industry     TEXT NOT NULL DEFAULT '',      -- '、'-separated 一业一查 scenario tags
    address      TEXT NOT NULL DEFAULT '',
    risk_class   TEXT CHECK (risk_class IN ('A', 'B', 'C', 'D')),
    risk_month   TEXT,                          -- YYYY-MM the class was graded
    legal_rep    TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT '',      -- 存续/在业/停业/注销/吊销 …
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX objects_risk_class ON objects(risk_class);

-- 抽查事项清单
CREATE TABLE items (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    department_code  TEXT NOT NULL REFERENCES departments(code) ON UPDATE CASCADE,
    legal_basis      TEXT NOT NULL DEFAULT '',
    method           TEXT NOT NULL DEFAULT '',
    category         TEXT NOT NULL DEFAULT '',  -- 一般 / 重点
    object_type      TEXT NOT NULL DEFAULT '',
    content          TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX items_department ON items(department_code);

-- Single-use onboarding codes carried by /start deep links.
CREATE TABLE invite_codes (
    code             TEXT PRIMARY KEY,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'liaison', 'inspector')),
    department_code  TEXT REFERENCES departments(code) ON UPDATE CASCADE,
    inspector_id     INTEGER REFERENCES inspectors(id) ON DELETE CASCADE,
    created_by       INTEGER NOT NULL,          -- Telegram user id of the administrator
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    used_at          TEXT,
    used_by          INTEGER                    -- Telegram user id that redeemed it
);

-- Group chats the bot has been in. At most one is the county coordination group.
CREATE TABLE chats (
    chat_id          INTEGER PRIMARY KEY,
    title            TEXT NOT NULL DEFAULT '',
    type             TEXT NOT NULL,
    is_coordination  INTEGER NOT NULL DEFAULT 0,
    bot_is_member    INTEGER NOT NULL DEFAULT 1,
    bound_by         INTEGER,
    bound_at         TEXT,
    migrated_to      INTEGER,                   -- set on the old row when a group became a supergroup
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX chats_one_coordination ON chats(is_coordination) WHERE is_coordination = 1;

-- Every change and every refused action.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       INTEGER,                        -- Telegram user id; NULL for the system or the CLI
    action      TEXT NOT NULL,                  -- e.g. 'import.objects', 'invite.create', 'command.refused'
    entity      TEXT,
    entity_id   TEXT,
    outcome     TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'refused', 'failed')),
    detail      TEXT NOT NULL DEFAULT '{}'      -- JSON
);
CREATE INDEX audit_log_at ON audit_log(at);

-- Documents an administrator sent without saying which directory they are; kept until a button
-- picks the kind, so the choice survives a restart.
CREATE TABLE pending_uploads (
    id          INTEGER PRIMARY KEY,
    tg_user_id  INTEGER NOT NULL,
    file_id     TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    file_size   INTEGER,
    dry_run     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    consumed_at TEXT
);
