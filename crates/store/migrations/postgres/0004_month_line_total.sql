-- An invoice sums its month's expense lines per workspace × item × charge type. Those sums
-- are kept as running totals, added to by every write of lines, so issuing an invoice reads
-- a few rows per account instead of every line of the month. `billcenter verify` checks
-- them against the lines.
CREATE TABLE month_line_total (
    account_id        TEXT   NOT NULL,
    month             TEXT   NOT NULL,
    workspace_id      TEXT   NOT NULL,
    item              TEXT   NOT NULL,
    charge_type       TEXT   NOT NULL,
    gross             BIGINT NOT NULL,
    rounding_discount BIGINT NOT NULL,
    coupon            BIGINT NOT NULL,
    card              BIGINT NOT NULL,
    cash              BIGINT NOT NULL,
    arrears           BIGINT NOT NULL,
    PRIMARY KEY (account_id, month, workspace_id, item, charge_type)
);

INSERT INTO month_line_total (account_id, month, workspace_id, item, charge_type, gross, rounding_discount, coupon, card, cash, arrears)
SELECT account_id, SUBSTR(billing_day, 1, 7), workspace_id, item, charge_type,
       SUM(gross), SUM(rounding_discount), SUM(coupon), SUM(card), SUM(cash), SUM(arrears)
FROM expense_line
GROUP BY account_id, SUBSTR(billing_day, 1, 7), workspace_id, item, charge_type;

-- The lines no longer need to carry the sums in the day index (migration 0003).
DROP INDEX expense_line_day;
CREATE INDEX expense_line_day ON expense_line (account_id, billing_day);

-- The late keys of a batch are read in key order; with only (account, day) in the partial
-- index, the planner preferred walking every usage row of the batch in primary-key order.
DROP INDEX usage_daily_late;
CREATE INDEX usage_daily_late ON usage_daily (account_id, billing_day, workspace_id, item, dims) WHERE late = 1;
