-- Rating takes a day's usage keys (workspace, item, dimensions) in the byte order of their
-- texts, and the nightly run reads them in the database's `ORDER BY`. A database created with
-- a language's collation (a locale other than C, or ICU) sorts `W2` after `w1` and ignores
-- punctuation at first: the key columns compare by bytes wherever the database was made.
ALTER TABLE usage_daily
    ALTER COLUMN workspace_id TYPE TEXT COLLATE "C",
    ALTER COLUMN item TYPE TEXT COLLATE "C",
    ALTER COLUMN dims TYPE TEXT COLLATE "C";
