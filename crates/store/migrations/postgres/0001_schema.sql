-- billcenter schema, PostgreSQL dialect (the SQLite one with BIGINT for every integer).
-- Amounts are integers of the currency's minor unit; quantities and unit prices are integers
-- scaled by 10^6; rounding discounts are integers scaled by 10^8 of the major unit.
-- Dates are ISO text `YYYY-MM-DD` (civil dates in the account's billing time zone);
-- instants are microseconds since the Unix epoch.
-- Every table of account data has `account_id` first in its primary key.

CREATE TABLE catalog_version (
    version     BIGINT PRIMARY KEY,
    source      TEXT    NOT NULL,
    imported_at BIGINT  NOT NULL
);

CREATE TABLE billing_account (
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
);

-- The directory from workspace id to its account: a small operator table (replicated when the
-- account tables are distributed), consulted at ingest.
CREATE TABLE workspace (
    workspace_id TEXT   NOT NULL PRIMARY KEY,
    account_id   TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX workspace_account ON workspace (account_id, workspace_id);

CREATE TABLE usage_record (
    account_id   TEXT   NOT NULL,
    record_id    TEXT   NOT NULL,
    workspace_id TEXT   NOT NULL,
    item         TEXT   NOT NULL,
    dims         TEXT   NOT NULL,
    recorded_at  BIGINT NOT NULL,
    quantity     BIGINT NOT NULL,
    billing_day  TEXT   NOT NULL,
    PRIMARY KEY (account_id, record_id)
);

-- The day's aggregate per workspace × item × dimensions, maintained at ingest. `late` marks a
-- key that changed after its day was billed; the next run rates the difference.
CREATE TABLE usage_daily (
    account_id   TEXT    NOT NULL,
    billing_day  TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    dims         TEXT    NOT NULL,
    quantity     BIGINT  NOT NULL,
    late         BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, billing_day, workspace_id, item, dims)
);
CREATE INDEX usage_daily_late ON usage_daily (account_id, billing_day) WHERE late = 1;

CREATE TABLE daily_bill (
    account_id  TEXT   NOT NULL,
    billing_day TEXT   NOT NULL,
    settled_at  BIGINT NOT NULL,
    line_count  BIGINT NOT NULL,
    total       BIGINT NOT NULL,
    PRIMARY KEY (account_id, billing_day)
);

CREATE TABLE expense_line (
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
);
CREATE INDEX expense_line_day ON expense_line (account_id, billing_day);
CREATE INDEX expense_line_usage ON expense_line (account_id, usage_day, item);

CREATE TABLE instrument (
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
    active        BIGINT  NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, instrument_id)
);

CREATE TABLE package (
    account_id   TEXT   NOT NULL,
    package_no   BIGINT NOT NULL,
    plan         TEXT   NOT NULL,
    start_day    TEXT   NOT NULL,
    end_day      TEXT   NOT NULL,
    price        BIGINT NOT NULL,
    purchased_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, package_no)
);

CREATE TABLE ledger_tx (
    account_id TEXT   NOT NULL,
    tx_no      BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    posted_at  BIGINT NOT NULL,
    document   TEXT   NOT NULL,
    remark     TEXT   NOT NULL,
    PRIMARY KEY (account_id, tx_no)
);
CREATE INDEX ledger_tx_time ON ledger_tx (account_id, posted_at);

CREATE TABLE ledger_entry (
    account_id    TEXT   NOT NULL,
    tx_no         BIGINT NOT NULL,
    entry_no      BIGINT NOT NULL,
    book          TEXT   NOT NULL,
    fund_id       BIGINT NOT NULL,
    amount        BIGINT NOT NULL,
    balance_after BIGINT,
    PRIMARY KEY (account_id, tx_no, entry_no)
);

CREATE TABLE invoice (
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
);

CREATE TABLE invoice_line (
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
);

CREATE TABLE invoice_card (
    account_id    TEXT   NOT NULL,
    month         TEXT   NOT NULL,
    instrument_id BIGINT NOT NULL,
    face_value    BIGINT NOT NULL,
    PRIMARY KEY (account_id, month, instrument_id)
);

-- State changes and other notable events; the outbox webhooks will deliver from.
CREATE TABLE account_event (
    account_id  TEXT   NOT NULL,
    event_no    BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    happened_on TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    detail      TEXT   NOT NULL,
    PRIMARY KEY (account_id, event_no)
);
