-- Day buckets (UTC) that writes touched and whose continuous aggregates may not have seen them yet.
-- Intended use: the writer upserts (muid, obis, time_bucket('1 day', ts)) here in the same transaction as the
-- readings; whoever refreshes the aggregates (CALL refresh_continuous_aggregate over the touched range, see
-- docs/storage.md) deletes the rows it covered. Rows older than the refresh interval mean stale aggregates.
-- On plain PostgreSQL the aggregate views read the raw rows and are never stale: the table is informative.
CREATE TABLE IF NOT EXISTS readings_dirty_buckets (
    muid      uuid        NOT NULL,
    obis      text        NOT NULL,
    bucket    timestamptz NOT NULL,  -- time_bucket('1 day', ts): UTC midnight
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (muid, obis, bucket)
);

CREATE INDEX IF NOT EXISTS readings_dirty_buckets_marked_at_idx ON readings_dirty_buckets (marked_at);
