-- Operator tables of the HTTP API: keys, idempotency, coupon codes, webhooks, scheduler leases.

-- API keys are stored only as a SHA-256 hash of their secret part.
CREATE TABLE api_key (
    key_id      TEXT   NOT NULL PRIMARY KEY,
    secret_hash TEXT   NOT NULL,
    scope       TEXT   NOT NULL,
    account_id  TEXT,
    created_at  BIGINT NOT NULL
);

-- One row per Idempotency-Key of a caller: the request's hash and, once finished, the response.
CREATE TABLE idempotency (
    caller       TEXT   NOT NULL,
    idem_key     TEXT   NOT NULL,
    request_hash TEXT   NOT NULL,
    status       BIGINT,
    response     TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);

-- Activation codes the operator creates and a customer redeems once for a coupon.
CREATE TABLE coupon_code (
    code        TEXT   NOT NULL PRIMARY KEY,
    kind        TEXT   NOT NULL,
    amount      TEXT   NOT NULL,
    valid_from  TEXT   NOT NULL,
    valid_until TEXT   NOT NULL,
    scope       TEXT,
    created_at  BIGINT NOT NULL,
    redeemed_by TEXT,
    redeemed_at BIGINT
);

CREATE TABLE webhook_endpoint (
    endpoint_id BIGINT NOT NULL PRIMARY KEY,
    url         TEXT   NOT NULL,
    events      TEXT   NOT NULL,
    secret      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Deliveries are created from account events (the outbox) and attempted until delivered.
CREATE TABLE webhook_delivery (
    endpoint_id  BIGINT NOT NULL,
    account_id   TEXT   NOT NULL,
    event_no     BIGINT NOT NULL,
    message_id   TEXT   NOT NULL,
    attempts     BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    delivered_at BIGINT,
    last_status  BIGINT,
    last_error   TEXT,
    PRIMARY KEY (endpoint_id, account_id, event_no)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (next_attempt) WHERE delivered_at IS NULL;

-- How far the outbox has been turned into deliveries, per account.
CREATE TABLE outbox_cursor (
    account_id TEXT   NOT NULL PRIMARY KEY,
    event_no   BIGINT NOT NULL
);

-- A lease names the process that may run a job until it expires.
CREATE TABLE job_lease (
    job        TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Alert thresholds per account: low balance, and high daily spend per billable item.
CREATE TABLE account_alert (
    account_id TEXT   NOT NULL,
    item       TEXT   NOT NULL,
    threshold  BIGINT NOT NULL,
    PRIMARY KEY (account_id, item)
);
