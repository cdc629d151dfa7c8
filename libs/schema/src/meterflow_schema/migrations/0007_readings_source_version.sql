-- The source version of each reading (issue 12, item 5): the S3 LastModified of the object it came from and
-- the record's index in that object. The writer upserts a row only when the incoming version is not older
-- than the stored one, so a correction uploaded under a new key wins even when the original's batch is
-- written after it. NULL (rows written before this migration, or producers without a version) is older
-- than every version.
--
-- Nullable columns without a default: a catalog-only change on plain PostgreSQL (no table rewrite), and
-- what TimescaleDB allows on a hypertable with compression enabled (compressed chunks get the column too).
ALTER TABLE readings ADD COLUMN IF NOT EXISTS source_modified timestamptz;
ALTER TABLE readings ADD COLUMN IF NOT EXISTS source_record integer;

COMMENT ON COLUMN readings.source_modified IS 'S3 LastModified of the source object; NULL = oldest version';
COMMENT ON COLUMN readings.source_record IS 'index of the source record within its object (version tiebreak)';
