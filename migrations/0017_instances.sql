-- Several instances on one database (issue 17): outbox claims, a shared pacing ledger, leases.
-- Times here are epoch seconds of the real clock (time.time()), not the bot's clock: leases and
-- Telegram's flood limits run in real time even when the sandbox moves the bot's clock.

-- A row being sent belongs to the instance that claimed it, until claim_until; a claim that
-- runs out (its instance died) is taken over by another instance and the row is sent again.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claim_until DOUBLE PRECISION;

-- The pacing ledger every instance's sender takes its send slots from, in the transaction that
-- claims the rows: chat_id 0 is the bot's overall pace, any other id that chat's. `tat` is the
-- theoretical arrival time of the next message (GCRA, bot.domain.ledger).
CREATE TABLE outbox_pace (
    chat_id  INTEGER PRIMARY KEY,
    tat      DOUBLE PRECISION NOT NULL
);

-- Named leases: `leader` is held by the one instance that receives updates (polling or the
-- webhook) and runs the periodic scans; the others stand by and take it when it runs out.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    acquired_at DOUBLE PRECISION NOT NULL
);

-- The overall pace's row exists from the start, so that on PostgreSQL every claim locks it
-- (SELECT … FOR UPDATE) and claims take their overall slots one after another.
INSERT INTO outbox_pace (chat_id, tat) VALUES (0, 0);
