-- readings_hourly and readings_daily: per series and UTC bucket, total/n/min/max.
-- TimescaleDB: continuous aggregates with real-time aggregation (materialized_only = false), so a query sees
-- the materialized buckets plus the raw rows newer than the watermark, and refresh policies.
-- Plain PostgreSQL: ordinary views with the same names and columns, computed from the raw rows.
-- WITH NO DATA keeps the creation transactional (TimescaleDB only refuses WITH DATA in a transaction block).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW IF NOT EXISTS readings_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT muid, obis, time_bucket(interval '1 hour', ts) AS bucket,
                   sum(value) AS total, count(*) AS n, min(value) AS min_value, max(value) AS max_value
            FROM readings
            GROUP BY muid, obis, time_bucket(interval '1 hour', ts)
            WITH NO DATA
        $sql$;
        EXECUTE $sql$
            CREATE MATERIALIZED VIEW IF NOT EXISTS readings_daily
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT muid, obis, time_bucket(interval '1 day', ts) AS bucket,
                   sum(value) AS total, count(*) AS n, min(value) AS min_value, max(value) AS max_value
            FROM readings
            GROUP BY muid, obis, time_bucket(interval '1 day', ts)
            WITH NO DATA
        $sql$;
        -- start_offset NULL: the whole history. Refreshes are incremental (only ranges TimescaleDB logged
        -- as invalidated are recomputed), so late and corrected data of any age is picked up by the next
        -- run. end_offset keeps the still-filling bucket out of the materialization; real-time covers it.
        PERFORM add_continuous_aggregate_policy('readings_hourly',
            start_offset => NULL, end_offset => interval '1 hour',
            schedule_interval => interval '15 minutes', if_not_exists => true);
        PERFORM add_continuous_aggregate_policy('readings_daily',
            start_offset => NULL, end_offset => interval '1 hour',
            schedule_interval => interval '1 hour', if_not_exists => true);
    ELSE
        CREATE OR REPLACE VIEW readings_hourly AS
        SELECT muid, obis, date_trunc('hour', ts, 'UTC') AS bucket,
               sum(value) AS total, count(*) AS n, min(value) AS min_value, max(value) AS max_value
        FROM readings
        GROUP BY muid, obis, date_trunc('hour', ts, 'UTC');
        CREATE OR REPLACE VIEW readings_daily AS
        SELECT muid, obis, date_trunc('day', ts, 'UTC') AS bucket,
               sum(value) AS total, count(*) AS n, min(value) AS min_value, max(value) AS max_value
        FROM readings
        GROUP BY muid, obis, date_trunc('day', ts, 'UTC');
    END IF;
END
$$;
