-- Each group of expense lines keeps its gross by billable item beside its lines, as a JSON
-- array of [item, gross] in item order, so a daily spend chart reads a few pairs per day
-- instead of every line of an account's month. The nightly run writes it with the lines;
-- `verify` checks that it adds up to them. The view `line_group_item_gross` shows the pairs
-- as rows.
ALTER TABLE expense_line_group ADD COLUMN item_gross TEXT NOT NULL DEFAULT '[]';
UPDATE expense_line_group AS g SET item_gross = (
    SELECT COALESCE(jsonb_agg(jsonb_build_array(s.item, s.gross) ORDER BY s.item), '[]'::jsonb)::TEXT
    FROM (SELECT l.value ->> 2 AS item, SUM((l.value ->> 10)::BIGINT) AS gross
          FROM jsonb_array_elements(g.lines::jsonb) AS l(value) GROUP BY l.value ->> 2) AS s
);
CREATE VIEW line_group_item_gross AS
SELECT g.account_id AS account_id, g.billing_day AS billing_day, t.value ->> 0 AS item, (t.value ->> 1)::BIGINT AS gross
FROM expense_line_group AS g CROSS JOIN LATERAL jsonb_array_elements(g.item_gross::jsonb) AS t(value);
