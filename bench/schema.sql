-- The tables the SQL contenders of the benchmark job read (see bench/README.md).
-- Loaded from the CSV files `billcenter bench setup` and `billcenter bench job` write;
-- quantities are integers at six decimals, rates integers at four, money in minor units.
CREATE TABLE usage (account VARCHAR, workspace VARCHAR, item VARCHAR, retention INTEGER, quantity_e6 BIGINT);
CREATE TABLE items (item VARCHAR, unit_size BIGINT, aggregation VARCHAR, coupon_eligible BOOLEAN);
CREATE TABLE prices (item VARCHAR, retention INTEGER, rate_e4 BIGINT);
CREATE TABLE quotas (item VARCHAR, quantity_e6 BIGINT, base_retention INTEGER);
CREATE TABLE factors (item VARCHAR, retention INTEGER, factor BIGINT);
CREATE TABLE accounts (account VARCHAR, package BOOLEAN, coupon BIGINT, card BIGINT, cash BIGINT);
