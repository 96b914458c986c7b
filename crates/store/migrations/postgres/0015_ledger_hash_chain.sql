-- Each account's ledger transactions form a hash chain: a transaction's hash covers its
-- content, its entries and the previous transaction's hash; the account keeps the last one.
ALTER TABLE ledger_tx ADD COLUMN hash TEXT NOT NULL DEFAULT '';
ALTER TABLE billing_account ADD COLUMN ledger_head TEXT NOT NULL DEFAULT '';
