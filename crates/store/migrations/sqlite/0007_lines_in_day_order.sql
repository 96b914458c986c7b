-- Expense lines are kept in (account, billing day, line) order, in a table that is its own
-- index: the lists read an account's lines by billing day, the invoices and daily bills sum
-- them by day, and a night writes each line with one B-tree insert instead of four (rowid
-- table, primary key, day index, usage-day index). Line numbers stay unique per account: the
-- account's counter hands them out in the writing transaction, and `verify` checks it.
-- Lines rated for another usage day than their billing day (late usage, corrections) are
-- the only ones indexed by usage day; the others are found by their billing day.
CREATE TABLE expense_line_by_day (
    account_id        TEXT   NOT NULL,
    line_no           BIGINT NOT NULL,
    billing_day       TEXT   NOT NULL,
    usage_day         TEXT   NOT NULL,
    workspace_id      TEXT   NOT NULL,
    item              TEXT   NOT NULL,
    dims              TEXT   NOT NULL,
    charge_type       TEXT   NOT NULL,
    quantity          BIGINT NOT NULL,
    covered           BIGINT NOT NULL,
    chargeable        BIGINT NOT NULL,
    priced_dims       TEXT   NOT NULL,
    unit_price        BIGINT,
    gross             BIGINT NOT NULL,
    rounding_discount BIGINT NOT NULL,
    coupon            BIGINT NOT NULL,
    card              BIGINT NOT NULL,
    cash              BIGINT NOT NULL,
    arrears           BIGINT NOT NULL,
    document          TEXT   NOT NULL,
    PRIMARY KEY (account_id, billing_day, line_no)
) WITHOUT ROWID;
INSERT INTO expense_line_by_day
SELECT account_id, line_no, billing_day, usage_day, workspace_id, item, dims, charge_type, quantity, covered, chargeable,
       priced_dims, unit_price, gross, rounding_discount, coupon, card, cash, arrears, document
FROM expense_line;
DROP TABLE expense_line;
ALTER TABLE expense_line_by_day RENAME TO expense_line;
CREATE INDEX expense_line_other_day ON expense_line (account_id, usage_day) WHERE usage_day <> billing_day;
