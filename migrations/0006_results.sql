-- Inspection results (谁检查、谁录入、谁公开): one entry per drawn object and department, every
-- version kept, review by the department's liaison, follow-up (后续处置), evidence, on-site
-- check-in (扫码入企) and the enterprise's verification link. See bot/domain/results.py.

-- The standard result categories. Labels are data: a province's wording changes here, not in code.
CREATE TABLE result_categories (
    code            INTEGER PRIMARY KEY,
    label           TEXT NOT NULL,
    sort            INTEGER NOT NULL,
    needs_followup  INTEGER NOT NULL DEFAULT 0       -- 1: a follow-up measure is required
);
INSERT INTO result_categories (code, label, sort, needs_followup) VALUES
    (1, '未发现问题', 1, 0),
    (2, '未按规定公示应当公示的信息', 2, 0),
    (3, '公示信息隐瞒真实情况、弄虚作假', 3, 0),
    (4, '通过登记的住所（经营场所）无法联系', 4, 0),
    (5, '发现问题已责令改正', 5, 0),
    (6, '发现问题待后续处理', 6, 1),
    (7, '不配合检查情节严重', 7, 0),
    (8, '未发现开展本次抽查涉及的经营活动', 8, 0),
    (9, '已关闭停业或正在组织清算', 9, 0),
    (10, '注销', 10, 0),
    (11, '被吊销', 11, 0),
    (12, '被撤销', 12, 0),
    (13, '迁出', 13, 0);

-- Check methods; on-site (onsite = 1) results need a check-in first.
CREATE TABLE result_methods (
    code    TEXT PRIMARY KEY,
    label   TEXT NOT NULL,
    sort    INTEGER NOT NULL,
    onsite  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO result_methods (code, label, sort, onsite) VALUES
    ('onsite', '现场', 1, 1),
    ('document', '书面核查', 2, 0),
    ('sharing', '信息共享', 3, 0),
    ('online', '网络监测', 4, 0),
    ('remote', '远程/视频', 5, 0);

-- The current version of each entry. No row: 未录入.
CREATE TABLE results (
    id                   INTEGER PRIMARY KEY,
    task_id              INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq                  INTEGER NOT NULL,              -- the object's number within the task
    department_code      TEXT NOT NULL,
    state                TEXT NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'returned', 'published')),
    categories           TEXT NOT NULL,                 -- JSON list of result_categories.code
    method               TEXT NOT NULL REFERENCES result_methods(code),
    checked_on           TEXT NOT NULL,                 -- ISO date (Beijing)
    note                 TEXT NOT NULL DEFAULT '',
    guidance             TEXT NOT NULL DEFAULT '',      -- 行政指导 given to the enterprise
    version              INTEGER NOT NULL DEFAULT 1,
    entered_by           INTEGER NOT NULL,              -- Telegram user id
    return_reason        TEXT,
    reviewed_by          INTEGER,
    reviewed_at          TEXT,
    followup             TEXT CHECK (followup IN ('none', 'rectify', 'refer', 'notify')),
    followup_due         TEXT,                          -- ISO date, 责令限期整改
    followup_department  TEXT,                          -- 抄告: the department told
    followup_state       TEXT CHECK (followup_state IN ('open', 'closed')),
    followup_closed_on   TEXT,
    followup_note        TEXT NOT NULL DEFAULT '',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (task_id, seq, department_code)
);
CREATE INDEX results_review ON results(task_id, department_code, state);

-- Every version as entered (and every review), never changed.
CREATE TABLE result_versions (
    id          INTEGER PRIMARY KEY,
    result_id   INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    event       TEXT NOT NULL,                          -- entered | edited | returned | published …
    data        TEXT NOT NULL,                          -- JSON snapshot
    actor       INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX result_versions_result ON result_versions(result_id, id);

-- Confirmation messages of entries: a photo or document sent in reply becomes evidence.
CREATE TABLE result_messages (
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    result_id   INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, message_id)
);

CREATE TABLE result_evidence (
    id              INTEGER PRIMARY KEY,
    result_id       INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('photo', 'document')),
    file_id         TEXT NOT NULL,
    file_unique_id  TEXT NOT NULL,
    file_name       TEXT,
    added_by        INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);

-- On-site check-in (扫码入企): one per inspector and object.
CREATE TABLE result_checkins (
    task_id        INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    inspector_id   INTEGER NOT NULL REFERENCES inspectors(id),
    checked_in_at  TEXT NOT NULL,                       -- UTC
    PRIMARY KEY (task_id, seq, inspector_id)
);

-- The enterprise's verification link: https://t.me/<bot>?start=v_<token>
CREATE TABLE result_verify_tokens (
    token       TEXT PRIMARY KEY,
    task_id     INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (task_id, seq)
);

-- Guided /r and typed input owed to the results feature (a note, guidance, a return reason);
-- older than 30 minutes it is ignored.
CREATE TABLE result_flows (
    tg_user_id  INTEGER PRIMARY KEY,
    step        TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    updated_at  TEXT NOT NULL
);
