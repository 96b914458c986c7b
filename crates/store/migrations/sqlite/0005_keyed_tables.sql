-- SQLite only: account tables become WITHOUT ROWID tables, stored in their primary key's
-- B-tree. A rowid table keeps every row twice (the table by rowid, and the primary key index
-- beside it), so each insert wrote two B-trees before any secondary index; now one. Rows are
-- copied as they are; PostgreSQL tables are heaps with a key index and need no such change.

CREATE TABLE billing_account_keyed (
    account_id      TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    time_zone       TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    first_day       TEXT    NOT NULL,
    billed_through  TEXT,
    cash            BIGINT  NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'active',
    overdue_since   TEXT,
    next_line       BIGINT  NOT NULL DEFAULT 1,
    next_tx         BIGINT  NOT NULL DEFAULT 1,
    next_instrument BIGINT  NOT NULL DEFAULT 1,
    next_invoice    BIGINT  NOT NULL DEFAULT 1,
    next_event      BIGINT  NOT NULL DEFAULT 1,
    next_package    BIGINT  NOT NULL DEFAULT 1
) WITHOUT ROWID;
INSERT INTO billing_account_keyed SELECT * FROM billing_account;
DROP TABLE billing_account;
ALTER TABLE billing_account_keyed RENAME TO billing_account;

CREATE TABLE workspace_keyed (
    workspace_id TEXT   NOT NULL PRIMARY KEY,
    account_id   TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO workspace_keyed SELECT * FROM workspace;
DROP TABLE workspace;
ALTER TABLE workspace_keyed RENAME TO workspace;

CREATE TABLE usage_record_keyed (
    account_id   TEXT   NOT NULL,
    record_id    TEXT   NOT NULL,
    workspace_id TEXT   NOT NULL,
    item         TEXT   NOT NULL,
    dims         TEXT   NOT NULL,
    recorded_at  BIGINT NOT NULL,
    quantity     BIGINT NOT NULL,
    billing_day  TEXT   NOT NULL,
    PRIMARY KEY (account_id, record_id)
) WITHOUT ROWID;
INSERT INTO usage_record_keyed SELECT * FROM usage_record;
DROP TABLE usage_record;
ALTER TABLE usage_record_keyed RENAME TO usage_record;

CREATE TABLE usage_daily_keyed (
    account_id   TEXT    NOT NULL,
    billing_day  TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    dims         TEXT    NOT NULL,
    quantity     BIGINT  NOT NULL,
    late         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, billing_day, workspace_id, item, dims)
) WITHOUT ROWID;
INSERT INTO usage_daily_keyed SELECT * FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_keyed RENAME TO usage_daily;

CREATE TABLE daily_bill_keyed (
    account_id  TEXT   NOT NULL,
    billing_day TEXT   NOT NULL,
    settled_at  BIGINT NOT NULL,
    line_count  BIGINT NOT NULL,
    total       BIGINT NOT NULL,
    PRIMARY KEY (account_id, billing_day)
) WITHOUT ROWID;
INSERT INTO daily_bill_keyed SELECT * FROM daily_bill;
DROP TABLE daily_bill;
ALTER TABLE daily_bill_keyed RENAME TO daily_bill;

CREATE TABLE expense_line_keyed (
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
    PRIMARY KEY (account_id, line_no)
) WITHOUT ROWID;
INSERT INTO expense_line_keyed SELECT * FROM expense_line;
DROP TABLE expense_line;
ALTER TABLE expense_line_keyed RENAME TO expense_line;

CREATE TABLE instrument_keyed (
    account_id    TEXT   NOT NULL,
    instrument_id BIGINT NOT NULL,
    kind          TEXT   NOT NULL,
    origin        TEXT   NOT NULL,
    code          TEXT   NOT NULL,
    face_value    BIGINT NOT NULL,
    balance       BIGINT NOT NULL,
    valid_from    TEXT   NOT NULL,
    valid_until   TEXT   NOT NULL,
    scope         TEXT,
    active        INTEGER NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, instrument_id)
) WITHOUT ROWID;
INSERT INTO instrument_keyed SELECT * FROM instrument;
DROP TABLE instrument;
ALTER TABLE instrument_keyed RENAME TO instrument;

CREATE TABLE package_keyed (
    account_id   TEXT   NOT NULL,
    package_no   BIGINT NOT NULL,
    plan         TEXT   NOT NULL,
    start_day    TEXT   NOT NULL,
    end_day      TEXT   NOT NULL,
    price        BIGINT NOT NULL,
    purchased_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, package_no)
) WITHOUT ROWID;
INSERT INTO package_keyed SELECT * FROM package;
DROP TABLE package;
ALTER TABLE package_keyed RENAME TO package;

CREATE TABLE ledger_tx_keyed (
    account_id TEXT   NOT NULL,
    tx_no      BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    posted_at  BIGINT NOT NULL,
    document   TEXT   NOT NULL,
    remark     TEXT   NOT NULL,
    PRIMARY KEY (account_id, tx_no)
) WITHOUT ROWID;
INSERT INTO ledger_tx_keyed SELECT * FROM ledger_tx;
DROP TABLE ledger_tx;
ALTER TABLE ledger_tx_keyed RENAME TO ledger_tx;

CREATE TABLE ledger_entry_keyed (
    account_id    TEXT   NOT NULL,
    tx_no         BIGINT NOT NULL,
    entry_no      BIGINT NOT NULL,
    book          TEXT   NOT NULL,
    fund_id       BIGINT NOT NULL,
    amount        BIGINT NOT NULL,
    balance_after BIGINT,
    PRIMARY KEY (account_id, tx_no, entry_no)
) WITHOUT ROWID;
INSERT INTO ledger_entry_keyed SELECT * FROM ledger_entry;
DROP TABLE ledger_entry;
ALTER TABLE ledger_entry_keyed RENAME TO ledger_entry;

CREATE TABLE invoice_keyed (
    account_id        TEXT   NOT NULL,
    month             TEXT   NOT NULL,
    invoice_no        TEXT   NOT NULL,
    issued_at         BIGINT NOT NULL,
    gross             BIGINT NOT NULL,
    rounding_discount BIGINT NOT NULL,
    coupon            BIGINT NOT NULL,
    card              BIGINT NOT NULL,
    cash              BIGINT NOT NULL,
    arrears           BIGINT NOT NULL,
    cards_total       BIGINT NOT NULL,
    invoiceable       BIGINT NOT NULL,
    PRIMARY KEY (account_id, month)
) WITHOUT ROWID;
INSERT INTO invoice_keyed SELECT * FROM invoice;
DROP TABLE invoice;
ALTER TABLE invoice_keyed RENAME TO invoice;

CREATE TABLE invoice_line_keyed (
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
) WITHOUT ROWID;
INSERT INTO invoice_line_keyed SELECT * FROM invoice_line;
DROP TABLE invoice_line;
ALTER TABLE invoice_line_keyed RENAME TO invoice_line;

CREATE TABLE invoice_card_keyed (
    account_id    TEXT   NOT NULL,
    month         TEXT   NOT NULL,
    instrument_id BIGINT NOT NULL,
    face_value    BIGINT NOT NULL,
    PRIMARY KEY (account_id, month, instrument_id)
) WITHOUT ROWID;
INSERT INTO invoice_card_keyed SELECT * FROM invoice_card;
DROP TABLE invoice_card;
ALTER TABLE invoice_card_keyed RENAME TO invoice_card;

CREATE TABLE account_event_keyed (
    account_id  TEXT   NOT NULL,
    event_no    BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    happened_on TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    detail      TEXT   NOT NULL,
    PRIMARY KEY (account_id, event_no)
) WITHOUT ROWID;
INSERT INTO account_event_keyed SELECT * FROM account_event;
DROP TABLE account_event;
ALTER TABLE account_event_keyed RENAME TO account_event;

-- The secondary indexes, as the latest migrations left them.
CREATE INDEX workspace_account ON workspace (account_id, workspace_id);
CREATE INDEX usage_daily_late ON usage_daily (account_id, billing_day, workspace_id, item, dims) WHERE late = 1;
CREATE INDEX expense_line_day ON expense_line (account_id, billing_day);
CREATE INDEX expense_line_usage ON expense_line (account_id, usage_day, item);
CREATE INDEX ledger_tx_time ON ledger_tx (account_id, posted_at);
