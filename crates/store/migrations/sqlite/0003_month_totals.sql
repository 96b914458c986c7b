-- A month's invoice sums every expense line of the month per workspace × item × charge type.
-- The day index carries those columns, so the sums are read from the index alone, in order,
-- instead of one table lookup per line.
DROP INDEX expense_line_day;
CREATE INDEX expense_line_day ON expense_line (account_id, billing_day, workspace_id, item, charge_type, gross, rounding_discount, coupon, card, cash, arrears);
