-- A month's running totals are stored as one row per account and month: every workspace ×
-- item × charge type of it, as a JSON array of arrays [workspace_id, item, charge_type, gross,
-- rounding_discount, coupon, card, cash, arrears] in that key order. A night rewrites one row
-- per account (read, added to, written back in the same transaction) instead of adding to a
-- row per group. The view `month_line_total` shows every group as a row, as before.
CREATE TABLE month_total_group (
    account_id TEXT NOT NULL,
    month      TEXT NOT NULL,
    totals     TEXT NOT NULL,
    PRIMARY KEY (account_id, month)
);
INSERT INTO month_total_group (account_id, month, totals)
SELECT account_id, month,
       jsonb_agg(jsonb_build_array(workspace_id, item, charge_type, gross, rounding_discount, coupon, card, cash, arrears)
                 ORDER BY workspace_id, item, charge_type)::TEXT
FROM month_line_total
GROUP BY account_id, month;
DROP TABLE month_line_total;
CREATE VIEW month_line_total AS
SELECT g.account_id AS account_id, g.month AS month, t.value ->> 0 AS workspace_id, t.value ->> 1 AS item,
       t.value ->> 2 AS charge_type, (t.value ->> 3)::BIGINT AS gross, (t.value ->> 4)::BIGINT AS rounding_discount,
       (t.value ->> 5)::BIGINT AS coupon, (t.value ->> 6)::BIGINT AS card, (t.value ->> 7)::BIGINT AS cash,
       (t.value ->> 8)::BIGINT AS arrears
FROM month_total_group AS g CROSS JOIN LATERAL jsonb_array_elements(g.totals::jsonb) AS t(value);
