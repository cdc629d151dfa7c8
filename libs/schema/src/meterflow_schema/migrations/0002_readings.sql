-- Interval readings: one row per meter (muid), OBIS channel and interval start.
CREATE TABLE IF NOT EXISTS readings (
    muid        uuid             NOT NULL,
    obis        text             NOT NULL,  -- normalized, e.g. '1-0:1.29.0*255'
    ts          timestamptz      NOT NULL,  -- interval start, UTC
    value       double precision NOT NULL,  -- exactly as delivered
    quality     text             NOT NULL,
    ingested_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (muid, obis, ts)
);

COMMENT ON TABLE readings IS 'Smart-meter interval readings; a hypertable on ts when TimescaleDB is installed';
COMMENT ON COLUMN readings.obis IS 'normalized OBIS code A-B:C.D.E*F, e.g. 1-0:1.29.0*255';
COMMENT ON COLUMN readings.ts IS 'interval start (UTC)';

-- The PK serves per-meter queries; this one serves "all meters in a time range" (and is the index
-- TimescaleDB would create by default, so create_hypertable below finds it and adds none).
CREATE INDEX IF NOT EXISTS readings_ts_idx ON readings (ts DESC);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    PERFORM create_hypertable('readings', 'ts',
        chunk_time_interval => interval '7 days',
        if_not_exists => true,
        migrate_data => true);
    -- One compressed segment per series, newest first: the access pattern of every query we serve.
    ALTER TABLE readings SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'muid, obis',
        timescaledb.compress_orderby = 'ts DESC'
    );
    PERFORM add_compression_policy('readings', compress_after => interval '30 days', if_not_exists => true);
END
$$;
