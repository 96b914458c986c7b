-- Ingestion's idempotency keeps each record id with a fingerprint of its record's content
-- (workspace, item, dimensions, timestamp, quantity), not the record itself: the day's
-- aggregates (usage_daily) are what the nightly run rates, and the wide row with a second index
-- per record was most of what ingesting cost. Ids stored before keep fingerprint 0, "content
-- not known": a repeat of such an id counts as a duplicate.
CREATE TABLE usage_record_id (
    account_id  TEXT   NOT NULL,
    record_id   TEXT   NOT NULL,
    fingerprint BIGINT NOT NULL,
    PRIMARY KEY (account_id, record_id)
) WITHOUT ROWID;
INSERT INTO usage_record_id (account_id, record_id, fingerprint) SELECT account_id, record_id, 0 FROM usage_record;
DROP TABLE usage_record;
