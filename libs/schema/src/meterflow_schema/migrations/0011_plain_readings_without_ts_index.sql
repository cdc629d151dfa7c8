-- Plain PostgreSQL: drop readings_ts_idx (0002), which no query of ours uses and every stored row pays for.
--
-- Measured (bench/schema_costs.py, the benchmark's fleet of 3,225,600 rows COPYed in the writer's 50,000-row
-- transactions, medians of 3): the PostgreSQL backend spends 4.37 µs of CPU per row as migrated up to 0010,
-- 3.05 µs without this index: 1.31 µs per row, 30 % of the database's work on every load, on an index of
-- (ts DESC) where each timestamp repeats once per channel of the fleet. Every query of the API, the CLI and
-- the writer names the series first, so the primary key (muid, obis, ts) serves it; the one fleet-wide
-- time range (the writer's completeness check) joins the channels table and reads the primary key per
-- channel (its plan used the primary key with this index present, too).
--
-- TimescaleDB keeps it: the continuous aggregates' refresh reads all series of a time window, and
-- create_hypertable would make this index again anyway.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    DROP INDEX IF EXISTS readings_ts_idx;
END
$$;
