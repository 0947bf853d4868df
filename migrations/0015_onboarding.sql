-- Onboarding a whole county (issue 16): links in bulk, quiet joins, people who leave.

-- When the inviter's join digest listed this join (NULL: used but not yet reported). Joins made
-- before this migration were each reported by a message of their own already.
ALTER TABLE invite_codes ADD COLUMN reported_at TEXT;
UPDATE invite_codes SET reported_at = used_at WHERE used_at IS NOT NULL;
-- A link replaced by a reissued one (/invite inspectors … 重发) no longer works.
ALTER TABLE invite_codes ADD COLUMN revoked_at TEXT;
-- A liaison link that replaces the department's current liaisons when it is used.
ALTER TABLE invite_codes ADD COLUMN replaces_liaisons INTEGER NOT NULL DEFAULT 0;
CREATE INDEX invite_codes_inspector ON invite_codes(inspector_id);
CREATE INDEX invite_codes_created_by ON invite_codes(created_by, reported_at);

-- When the bot noticed that an inspector became inactive (the directory's 状态 column); cleared
-- when they are active again. Names the "left" notice to their liaisons, so it goes out once.
ALTER TABLE inspectors ADD COLUMN left_at TEXT;
