-- The daily usage is kept in its key's order (WITHOUT ROWID): one B-tree, where a rowid table
-- kept the rows and a second tree of their keys. Ingestion's merge finds and updates a row
-- in one tree, the nightly run reads an account's days as one range of it, and the table
-- takes about half the pages. SQLite only: PostgreSQL's heap and primary key are unchanged.
CREATE TABLE usage_daily_by_key (
    account_id   TEXT    NOT NULL,
    billing_day  TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    item         TEXT    NOT NULL,
    dims         TEXT    NOT NULL,
    quantity     BIGINT  NOT NULL,
    late         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, billing_day, workspace_id, item, dims)
) WITHOUT ROWID;
INSERT INTO usage_daily_by_key (account_id, billing_day, workspace_id, item, dims, quantity, late)
SELECT account_id, billing_day, workspace_id, item, dims, quantity, late FROM usage_daily ORDER BY account_id, billing_day, workspace_id, item, dims;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_by_key RENAME TO usage_daily;
CREATE INDEX usage_daily_late ON usage_daily (account_id, billing_day, workspace_id, item, dims) WHERE late = 1;
