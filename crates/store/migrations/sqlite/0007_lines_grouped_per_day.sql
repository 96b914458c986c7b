-- Expense lines are stored in groups: the lines one run billed for an account on a billing
-- day, for one usage day under one document, as a JSON array in one row. A night writes one
-- row per account-day instead of one row (and three index entries) per line: per-line rows
-- were most of what a night cost. The view `expense_line` shows every line as a row with the
-- columns it always had, so lists, invoices and `verify` read lines as before.
-- Each line of `lines` is an array: [line_no, workspace_id, item, dims, charge_type, quantity,
-- covered, chargeable, priced_dims, unit_price, gross, rounding_discount, coupon, card, cash,
-- arrears], integers as JSON integers (quantities and unit prices scaled by 10^6, rounding
-- discounts by 10^8, amounts in minor units), unit_price null when no unit price applied.
-- Line numbers stay unique per account: the account's counter hands them out in the writing
-- transaction, and `verify` checks it. Groups of another usage day than their billing day
-- (late usage, corrections) are the only ones indexed by usage day.
CREATE TABLE expense_line_group (
    account_id  TEXT   NOT NULL,
    billing_day TEXT   NOT NULL,
    first_line  BIGINT NOT NULL,
    usage_day   TEXT   NOT NULL,
    document    TEXT   NOT NULL,
    line_count  BIGINT NOT NULL,
    lines       TEXT   NOT NULL,
    PRIMARY KEY (account_id, billing_day, first_line)
);
CREATE INDEX expense_line_group_other_day ON expense_line_group (account_id, usage_day) WHERE usage_day <> billing_day;
INSERT INTO expense_line_group (account_id, billing_day, first_line, usage_day, document, line_count, lines)
SELECT account_id, billing_day, MIN(line_no), usage_day, document, COUNT(*),
       json_group_array(json_array(line_no, workspace_id, item, dims, charge_type, quantity, covered, chargeable, priced_dims,
                                   unit_price, gross, rounding_discount, coupon, card, cash, arrears) ORDER BY line_no)
FROM expense_line
GROUP BY account_id, billing_day, usage_day, document;
DROP TABLE expense_line;
CREATE VIEW expense_line AS
SELECT g.account_id AS account_id, l.value ->> 0 AS line_no, g.billing_day AS billing_day, g.usage_day AS usage_day,
       l.value ->> 1 AS workspace_id, l.value ->> 2 AS item, l.value ->> 3 AS dims, l.value ->> 4 AS charge_type,
       l.value ->> 5 AS quantity, l.value ->> 6 AS covered, l.value ->> 7 AS chargeable, l.value ->> 8 AS priced_dims,
       l.value ->> 9 AS unit_price, l.value ->> 10 AS gross, l.value ->> 11 AS rounding_discount, l.value ->> 12 AS coupon,
       l.value ->> 13 AS card, l.value ->> 14 AS cash, l.value ->> 15 AS arrears, g.document AS document
FROM expense_line_group AS g, json_each(g.lines) AS l;
