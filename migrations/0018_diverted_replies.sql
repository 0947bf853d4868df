-- No handler waits out a 429 (issue 13 §1): a direct reply that would have to wait (the chat is
-- paused after a 429, or its turn is more than `[outbox] divert_after_seconds` away) goes to the
-- outbox instead, as a *diverted reply*.
--   priority 1: a diverted reply (or edit); it leaves before the notices and broadcasts queued
--   for that chat (0), and diverted replies to one chat keep their order (id).
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- A message the bot sent directly that is edited through the outbox (a card whose edit met a
-- 429) is written here as already sent, so its edits coalesce like any outbox message's: they
-- are found by the chat and Telegram's message id.
CREATE INDEX outbox_message ON outbox(chat_id, tg_message_id) WHERE tg_message_id IS NOT NULL;

-- A prompt whose question was diverted: armed once that outbox row is sent (its message id is
-- then the question's), read from the outbox when the prompt is read.
ALTER TABLE prompts ADD COLUMN outbox_id INTEGER REFERENCES outbox(id);

-- A result's "saved" message that was diverted: linked to the result once it is sent.
CREATE TABLE result_outbox (
    outbox_id  INTEGER PRIMARY KEY REFERENCES outbox(id),
    result_id  INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE
);
