-- Expense lines are keyed in (account, billing day, line) order: the lists read an account's
-- lines by billing day and the invoices and daily bills sum them by day, through the primary
-- key alone, and a night maintains two structures per line (heap, key) instead of four.
-- Line numbers stay unique per account: the account's counter hands them out in the writing
-- transaction, and `verify` checks it. Lines rated for another usage day than their billing
-- day (late usage, corrections) are the only ones indexed by usage day.
ALTER TABLE expense_line DROP CONSTRAINT expense_line_pkey;
ALTER TABLE expense_line ADD PRIMARY KEY (account_id, billing_day, line_no);
DROP INDEX expense_line_day;
DROP INDEX expense_line_usage;
CREATE INDEX expense_line_other_day ON expense_line (account_id, usage_day) WHERE usage_day <> billing_day;
