-- The annual random-inspection plan (年度抽查计划): one row per planned task. The plan's year is
-- the start date's year; importing a file replaces that year's rows entirely (bot/plan_import.py).
CREATE TABLE plan_items (
    year                 INTEGER NOT NULL,
    seq                  INTEGER NOT NULL,              -- 1.. in file order within the year
    name                 TEXT NOT NULL,                 -- 任务名称, unique within the year
    industry             TEXT NOT NULL,                 -- 行业, compared with tasks.industry
    lead_department      TEXT NOT NULL,                 -- 牵头部门编码
    partner_departments  TEXT NOT NULL DEFAULT '[]',    -- JSON list of 配合部门编码
    ratio                REAL NOT NULL CHECK (ratio > 0 AND ratio <= 1),  -- 抽查比例, a fraction
    start_date           TEXT NOT NULL,                 -- ISO date (Beijing), inclusive
    end_date             TEXT NOT NULL,                 -- ISO date (Beijing), inclusive
    imported_at          TEXT NOT NULL,                 -- UTC
    imported_by          INTEGER,                       -- Telegram user id (NULL: command line)
    PRIMARY KEY (year, seq),
    UNIQUE (year, name)
);
CREATE INDEX plan_items_lead ON plan_items(lead_department);
