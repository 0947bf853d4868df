-- A flow's id travels in its card's buttons (nt:<flow>:…, tf:<flow>:…). Without AUTOINCREMENT
-- SQLite reuses the highest id once its row is deleted, so an old card's buttons could act on a
-- newer draft the person never reviewed. Rebuilt with AUTOINCREMENT; nothing references it.
CREATE TABLE task_flows_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tg_user_id       INTEGER NOT NULL,
    family           TEXT NOT NULL CHECK (family IN ('propose', 'answer')),
    kind             TEXT NOT NULL,                    -- propose | join | decline | cancel
    step             TEXT NOT NULL,
    task_id          INTEGER REFERENCES tasks(id) ON DELETE CASCADE,
    department_code  TEXT,
    data             TEXT NOT NULL DEFAULT '{}',       -- JSON
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (tg_user_id, family)
);
INSERT INTO task_flows_new SELECT * FROM task_flows;
DROP TABLE task_flows;
ALTER TABLE task_flows_new RENAME TO task_flows;
