-- Flood control (issue 13 §1, bot.domain.flood): each Telegram account's message bucket and
-- when it was last told something, so that a restart neither forgets a flood in progress nor
-- tells a stranger again. Times are epoch seconds (UTC).
CREATE TABLE flood_state (
    tg_user_id INTEGER PRIMARY KEY,
    tokens REAL NOT NULL,
    at REAL NOT NULL,
    told_at REAL,      -- a stranger's explanation
    noticed_at REAL    -- the slow-down notice
);
