-- The sender rides out outages (issue 12 §4).
-- A message's retry budget is a time: `retry_since` is when it first failed to go out (its
-- first failed try, or when an outage began holding it back); the sender gives it up once it has
-- waited `[outbox] retry_budget_seconds` since then (default 24 h). `attempts` now only counts
-- failed tries (shown in diagnostics), it no longer limits them.
ALTER TABLE outbox ADD COLUMN retry_since TEXT;  -- UTC

-- "重发给未送达的人" on a delivery report re-queues the failed copies: the broadcast runs again
-- and ends with a new report. `rounds` counts the runs (1: the first), so each report has its own
-- dedup key and a second press finds nothing left to resend.
ALTER TABLE broadcasts ADD COLUMN rounds INTEGER NOT NULL DEFAULT 1;
