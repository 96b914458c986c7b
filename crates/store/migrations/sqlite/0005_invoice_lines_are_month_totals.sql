-- An issued invoice's lines are its month's running totals (month_line_total): lines of an
-- invoiced month are never written again (late usage of it is rated into an open month), so
-- the copy issuing used to write was the same rows twice. `billcenter verify` checks every
-- invoice against its month's lines and their totals.
DROP TABLE invoice_line;
