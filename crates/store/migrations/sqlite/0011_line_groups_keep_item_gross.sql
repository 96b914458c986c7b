-- Each group of expense lines keeps its gross by billable item beside its lines, as a JSON
-- array of [item, gross] in item order, so a daily spend chart reads a few pairs per day
-- instead of every line of an account's month. The nightly run writes it with the lines;
-- `verify` checks that it adds up to them. The view `line_group_item_gross` shows the pairs
-- as rows.
ALTER TABLE expense_line_group ADD COLUMN item_gross TEXT NOT NULL DEFAULT '[]';
UPDATE expense_line_group SET item_gross = (
    SELECT COALESCE(json_group_array(json_array(s.item, s.gross) ORDER BY s.item), '[]')
    FROM (SELECT l.value ->> 2 AS item, SUM(l.value ->> 10) AS gross
          FROM json_each(expense_line_group.lines) AS l GROUP BY l.value ->> 2) AS s
);
CREATE VIEW line_group_item_gross AS
SELECT g.account_id AS account_id, g.billing_day AS billing_day, t.value ->> 0 AS item, t.value ->> 1 AS gross
FROM expense_line_group AS g, json_each(g.item_gross) AS t;
