-- Durable outbox: every message the bot sends on its own initiative is queued here in the same
-- transaction as the change that causes it, and a sender delivers it at Telegram's pace.
-- Administrator broadcasts: drafts (kept across restarts), schedules, recipients, progress.

-- File contents sent as documents. One row can serve many outbox rows (a broadcast attachment);
-- tg_file_id is filled after the first upload so later sends reuse Telegram's copy.
CREATE TABLE outbox_blobs (
    id          INTEGER PRIMARY KEY,
    data        BLOB NOT NULL,
    tg_file_id  TEXT,
    created_at  TEXT NOT NULL
);

-- One message to send, or one edit of a message sent earlier from this table.
-- Messages to one chat leave in id order. Across chats, bulk messages (broadcasts) yield to the
-- rest, so a reminder or a progress update does not wait behind a thousand-recipient broadcast.
--   pending -> sending (committed before the Telegram call) -> sent | failed | cancelled
-- "sending" rows found at start-up were in flight during a crash and are sent again.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    chat_id        INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('text', 'document', 'edit')),
    text           TEXT NOT NULL DEFAULT '',       -- HTML; the caption for documents
    keyboard       TEXT NOT NULL DEFAULT '[]',     -- JSON rows of {"text", "data" | "url"}
    blob_id        INTEGER REFERENCES outbox_blobs(id),
    file_name      TEXT,
    edit_of        INTEGER REFERENCES outbox(id),  -- the message an edit changes
    dedup_key      TEXT UNIQUE,                    -- lets a caller enqueue idempotently
    bulk           INTEGER NOT NULL DEFAULT 0,     -- 1: a broadcast copy, sent after the rest
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    not_before     TEXT NOT NULL,                  -- UTC; not sent earlier
    attempts       INTEGER NOT NULL DEFAULT 0,     -- failed tries that count towards the limit
    tg_message_id  INTEGER,
    error          TEXT,                           -- reason code (bot.domain.delivery.Reason)
    error_detail   TEXT,                           -- Telegram's description
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    sent_at        TEXT,
    CHECK ((kind = 'document') = (blob_id IS NOT NULL)),
    CHECK ((kind = 'edit') = (edit_of IS NOT NULL))
);
CREATE INDEX outbox_queue ON outbox(status, bulk, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_chat_queue ON outbox(chat_id, id) WHERE status IN ('pending', 'sending');

-- An administrator's broadcast, from draft to delivery report.
--   draft -> scheduled -> running -> done | cancelled;  draft -> discarded
-- `awaiting` keeps the conversation state in the database: the administrator's next message is
-- the content ('content') or the send time ('time').
CREATE TABLE broadcasts (
    id                  INTEGER PRIMARY KEY,
    created_by          INTEGER NOT NULL,          -- Telegram user id of the administrator
    chat_id             INTEGER NOT NULL,          -- their private chat: progress and report
    status              TEXT NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'scheduled', 'running', 'done', 'cancelled',
                                          'discarded')),
    awaiting            TEXT CHECK (awaiting IN ('content', 'time')),
    audience            TEXT CHECK (audience IN ('all', 'liaisons', 'inspectors', 'departments',
                                                  'group')),
    departments         TEXT NOT NULL DEFAULT '[]', -- JSON list of department codes
    picking_departments INTEGER NOT NULL DEFAULT 0,
    text_html           TEXT,                      -- the message, or the document's caption
    blob_id             INTEGER REFERENCES outbox_blobs(id),
    file_name           TEXT,
    scheduled_at        TEXT,
    started_at          TEXT,
    finished_at         TEXT,
    cancelled_at        TEXT,
    cancelled_by        INTEGER,
    progress_outbox_id  INTEGER REFERENCES outbox(id),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX broadcasts_one_draft ON broadcasts(created_by) WHERE status = 'draft';
CREATE INDEX broadcasts_active ON broadcasts(status) WHERE status IN ('scheduled', 'running',
                                                                      'cancelled');

-- Who a broadcast went to, resolved when it started. chat_id NULL: could not be messaged
-- (`skipped` says why, e.g. an inspector who never opened the bot).
CREATE TABLE broadcast_recipients (
    broadcast_id     INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    chat_id          INTEGER,
    name             TEXT NOT NULL,
    department_code  TEXT,
    skipped          TEXT,
    outbox_id        INTEGER REFERENCES outbox(id),
    PRIMARY KEY (broadcast_id, seq)
);
