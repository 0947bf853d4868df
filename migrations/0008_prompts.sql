-- One conversation service for typed input (issue 12): a prompt is the one question a person
-- owes the bot an answer to. At most one per person; any other command, /cancel, a newer prompt
-- or its expiry drops it. It takes input only once its question was delivered (armed).
CREATE TABLE prompts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tg_user_id  INTEGER NOT NULL UNIQUE,
    chat_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '{}',   -- JSON: what the answer is about
    armed       INTEGER NOT NULL DEFAULT 0,
    message_id  INTEGER,                      -- the question's message, once delivered
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- These only said "this person owes typed input"; prompts say it now. Whatever was pending is
-- dropped with them (at worst a person repeats the command they were in the middle of).
DROP TABLE reminder_flows;
DROP TABLE draw_pending;
