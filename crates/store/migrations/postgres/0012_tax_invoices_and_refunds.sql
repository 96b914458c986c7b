-- Tax invoices drawn on the invoiceable amount, and cash refunds (see billing::tax_invoice).

-- A customer's request for a tax invoice and what became of it: `requested` (its amount held),
-- `issued` (number and day), `rejected` (reason), `reversed` (a red-letter reversal of an
-- issued one, with its reason). Request numbers count per account from 1.
CREATE TABLE tax_invoice (
    account_id   TEXT   NOT NULL,
    request_no   BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    kind         TEXT   NOT NULL,
    title        TEXT   NOT NULL,
    tax_id       TEXT   NOT NULL,
    address      TEXT   NOT NULL,
    email        TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_at   BIGINT,
    invoice_no   TEXT,
    issued_on    TEXT,
    reason       TEXT,
    PRIMARY KEY (account_id, request_no)
);

-- A cash refund paid back to a customer (the ledger has its transaction).
CREATE TABLE cash_refund (
    account_id TEXT   NOT NULL,
    refund_no  BIGINT NOT NULL,
    amount     BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    tx_no      BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, refund_no)
);

-- What each tax invoice request (`source` = 'tax_invoice') or cash refund (`source` =
-- 'refund') took from each month's invoiceable amount. A request's draws count while it is
-- requested or issued; a refund's always.
CREATE TABLE invoiceable_draw (
    account_id TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    source_no  BIGINT NOT NULL,
    month      TEXT   NOT NULL,
    amount     BIGINT NOT NULL,
    PRIMARY KEY (account_id, source, source_no, month)
);
