-- PostgreSQL: 0012 rebuilds task_flows in SQLite so that its ids are never reused. Here
-- task_flows.id is an identity column from 0003 on, whose sequence never hands out an id twice,
-- so there is nothing to rebuild.
SELECT 1;
