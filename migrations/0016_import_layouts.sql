-- Issue 18: the files counties actually publish.
-- Departments get the short names and aliases people write (县市场监管局, 市场监管部门 …),
-- '、'-separated; plan and item lists keep the columns published files carry.
ALTER TABLE departments ADD COLUMN aliases TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN category_name TEXT NOT NULL DEFAULT '';   -- 抽查类别名称
ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT '';            -- 备注
ALTER TABLE plan_items ADD COLUMN frequency TEXT NOT NULL DEFAULT '';  -- 频次, e.g. 2次/年
ALTER TABLE plan_items ADD COLUMN object_count INTEGER;                -- 户数 of "10%（20户）"
ALTER TABLE plan_items ADD COLUMN items TEXT NOT NULL DEFAULT '';      -- 抽查事项, as written
ALTER TABLE plan_items ADD COLUMN scope TEXT NOT NULL DEFAULT '';      -- 抽查对象范围
ALTER TABLE plan_items ADD COLUMN mode TEXT NOT NULL DEFAULT '';       -- 模式
