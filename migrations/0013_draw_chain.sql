-- The chain of a draw's later changes (issue 14): entry 0 is the draw itself, anchored in its
-- input hash; each 回避 replacement and /swap is one entry whose hash covers the previous
-- entry's hash and its own canonical content (bot/domain/draw_audit.py).
--
-- Draws recorded before this migration have no entries: verification replays their changes
-- from the replaced draw_assignments rows and says they are not chained; their first later
-- change seals that history into a chain (entries marked legacy).
CREATE TABLE draw_chain (
    task_id     INTEGER NOT NULL REFERENCES draws(task_id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,               -- 0: the draw; 1…: changes in order
    prev_hash   TEXT NOT NULL,                  -- entry 0: the draw's input hash
    hash        TEXT NOT NULL,                  -- SHA-256 of prev_hash, newline, content
    content     TEXT NOT NULL,                  -- canonical JSON
    created_at  TEXT NOT NULL,
    PRIMARY KEY (task_id, n)
);

-- The last entry's hash (what an exported file or a later message can be compared with), and
-- the SHA-256 of the provincial platform's file for an imported draw.
ALTER TABLE draws ADD COLUMN chain_head TEXT;
ALTER TABLE draws ADD COLUMN file_sha256 TEXT;
