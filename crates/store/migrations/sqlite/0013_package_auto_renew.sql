-- An annual package renews itself for another year at its end when `auto_renew` is set (1):
-- the nightly run buys the next term when it bills the last day covered.
ALTER TABLE package ADD COLUMN auto_renew BIGINT NOT NULL DEFAULT 0;
