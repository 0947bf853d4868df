-- Closed means closed (issue 12 §5): every private message of a task remembers what it was, so
-- that when the task is extended, confirmed or cancelled each one is rewritten from the current
-- state as the same kind of message (an invitation stays an invitation, a reminder a reminder),
-- marked ended and without buttons, instead of all turning into one identical text.
--   invite | reminder | extended | added: a partner department's liaison (answer buttons);
--   escalation: the lead's liaisons and the administrators after the reply deadline passed
--   (extend / confirm buttons); `deadline` is the reply deadline it was about (UTC).
ALTER TABLE task_messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'invite'
    CHECK (kind IN ('invite', 'reminder', 'extended', 'added', 'escalation'));
ALTER TABLE task_messages ADD COLUMN deadline TEXT;

-- Existing rows: the kind is in the outbox dedup key the message was queued with
-- (task:<id>:inv|rem:<slot>|ext<version>|added:…).
UPDATE task_messages SET kind = coalesce((
    SELECT CASE
        WHEN o.dedup_key LIKE 'task:%:rem:%' THEN 'reminder'
        WHEN o.dedup_key LIKE 'task:%:ext%' THEN 'extended'
        WHEN o.dedup_key LIKE 'task:%:added:%' THEN 'added'
        ELSE 'invite'
    END
    FROM outbox o WHERE o.id = task_messages.outbox_id
), 'invite');

-- Escalations sent before this migration (key task:<id>:esc:<deadline>:<user>; the deadline is
-- stored as YYYY-MM-DDTHH:MM:SSZ, 20 characters).
INSERT INTO task_messages (task_id, outbox_id, department_code, kind, deadline)
SELECT t.id, o.id, t.lead_department, 'escalation',
       substr(o.dedup_key, length('task:' || t.id || ':esc:') + 1, 20)
FROM outbox o JOIN tasks t ON o.dedup_key LIKE 'task:' || t.id || ':esc:%'
WHERE o.kind = 'text'
ON CONFLICT (task_id, outbox_id) DO NOTHING;
