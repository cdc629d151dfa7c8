-- Plain PostgreSQL: readings_hourly becomes a table the database keeps current itself, so that the query API
-- aggregates 1 row per hour instead of 4 raw rows (TimescaleDB: a continuous aggregate since 0004, unchanged).
--
-- Statement-level triggers on readings, with transition tables (one call per INSERT, COPY, UPDATE or DELETE
-- statement, not per row), maintain it in the same transaction as the readings, so it is never stale,
-- whoever writes (the writer, a bulk load, a correction by hand):
-- - INSERT/COPY adds the inserted rows' sum, count, min and max to their hours. Increments commute, and
--   ON CONFLICT DO UPDATE locks the hour's row, so concurrent writers of one hour add up correctly;
-- - UPDATE and DELETE apply the same increments (minus what the old rows held) and recompute an hour's min
--   or max from the raw rows only where the removed value was one;
-- - TRUNCATE empties it.
-- Totals are kept by adding and subtracting: equal to summing the raw rows up to float rounding.
-- TimescaleDB refuses transition tables on hypertables, hence plain PostgreSQL only. Same name and columns
-- as the continuous aggregate: readers do not care which one they get. readings_daily (a view) now rolls the
-- hours up instead of the raw rows.

CREATE OR REPLACE FUNCTION readings_hourly_add() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO readings_hourly AS h (muid, obis, bucket, total, n, min_value, max_value)
    SELECT muid, obis, date_trunc('hour', ts, 'UTC'), sum(value), count(*), min(value), max(value)
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3  -- one lock order for every writer
    ON CONFLICT (muid, obis, bucket) DO UPDATE
    SET total = h.total + excluded.total,
        n = h.n + excluded.n,
        min_value = least(h.min_value, excluded.min_value),
        max_value = greatest(h.max_value, excluded.max_value);
    RETURN NULL;
END
$fn$;

-- UPDATE and DELETE: per hour, add what the after rows bring and take away what the before rows held (the
-- same increments as INSERT, so the two commute with concurrent writers and with the INSERT part of an
-- INSERT ... ON CONFLICT DO UPDATE, whose triggers fire in either order). A min or max can only be
-- recomputed: where a removed value was the hour's extreme, from the raw rows, once this statement holds the
-- hour's row lock (a concurrent writer's rows are then committed and seen, or it applies its own extremes
-- after us). Hours left without readings are deleted.
CREATE OR REPLACE FUNCTION readings_hourly_apply(hour_muid uuid[], hour_obis text[], hour_bucket timestamptz[],
                                                 added_total float8[], added_n bigint[], added_min float8[],
                                                 added_max float8[], removed_min float8[], removed_max float8[])
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO readings_hourly AS h (muid, obis, bucket, total, n, min_value, max_value)
    SELECT * FROM unnest(hour_muid, hour_obis, hour_bucket, added_total, added_n, added_min, added_max)
    ORDER BY 1, 2, 3
    ON CONFLICT (muid, obis, bucket) DO UPDATE
    SET total = h.total + excluded.total,
        n = h.n + excluded.n,
        min_value = least(h.min_value, excluded.min_value),  -- least/greatest skip NULL (nothing added)
        max_value = greatest(h.max_value, excluded.max_value);

    UPDATE readings_hourly h
    SET min_value = a.lo, max_value = a.hi
    FROM unnest(hour_muid, hour_obis, hour_bucket, removed_min, removed_max) AS t(muid, obis, bucket, lo, hi)
    CROSS JOIN LATERAL (
        SELECT min(r.value) AS lo, max(r.value) AS hi
        FROM readings r
        WHERE r.muid = t.muid AND r.obis = t.obis AND r.ts >= t.bucket AND r.ts < t.bucket + interval '1 hour'
    ) a
    WHERE h.muid = t.muid AND h.obis = t.obis AND h.bucket = t.bucket AND h.n > 0
      AND (t.lo <= h.min_value OR t.hi >= h.max_value);

    DELETE FROM readings_hourly h
    USING unnest(hour_muid, hour_obis, hour_bucket) AS t(muid, obis, bucket)
    WHERE h.muid = t.muid AND h.obis = t.obis AND h.bucket = t.bucket AND h.n = 0;
END
$fn$;

CREATE OR REPLACE FUNCTION readings_hourly_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    hour_muid uuid[];
    hour_obis text[];
    hour_bucket timestamptz[];
    added_total float8[];
    added_n bigint[];
    added_min float8[];
    added_max float8[];
    removed_min float8[];
    removed_max float8[];
BEGIN
    -- Each branch names only the transition tables its event has (plpgsql plans a statement when it runs).
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(muid), array_agg(obis), array_agg(bucket), array_agg(d_total), array_agg(d_n),
               array_agg(lo), array_agg(hi), array_agg(lo_removed), array_agg(hi_removed)
        INTO hour_muid, hour_obis, hour_bucket, added_total, added_n, added_min, added_max, removed_min, removed_max
        FROM (
            SELECT muid, obis, bucket,
                   coalesce(sum(added), 0) - coalesce(sum(removed), 0) AS d_total,
                   count(added) - count(removed) AS d_n,
                   min(added) AS lo, max(added) AS hi, min(removed) AS lo_removed, max(removed) AS hi_removed
            FROM (
                SELECT muid, obis, date_trunc('hour', ts, 'UTC') AS bucket, value AS added, NULL::float8 AS removed
                FROM after_rows
                UNION ALL
                SELECT muid, obis, date_trunc('hour', ts, 'UTC'), NULL, value FROM before_rows
            ) changes
            GROUP BY 1, 2, 3
        ) hours;
    ELSE
        SELECT array_agg(muid), array_agg(obis), array_agg(bucket), array_agg(d_total), array_agg(d_n),
               array_agg(NULL::float8), array_agg(NULL::float8), array_agg(lo_removed), array_agg(hi_removed)
        INTO hour_muid, hour_obis, hour_bucket, added_total, added_n, added_min, added_max, removed_min, removed_max
        FROM (
            SELECT muid, obis, date_trunc('hour', ts, 'UTC') AS bucket, -sum(value) AS d_total, -count(*) AS d_n,
                   min(value) AS lo_removed, max(value) AS hi_removed
            FROM before_rows
            GROUP BY 1, 2, 3
        ) hours;
    END IF;
    IF hour_muid IS NOT NULL THEN
        PERFORM readings_hourly_apply(hour_muid, hour_obis, hour_bucket, added_total, added_n, added_min,
                                      added_max, removed_min, removed_max);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION readings_hourly_truncate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE readings_hourly;
    RETURN NULL;
END
$fn$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;  -- continuous aggregates (0004); the functions above stay unused
    END IF;
    DROP VIEW IF EXISTS readings_daily;
    DROP VIEW IF EXISTS readings_hourly;
    CREATE TABLE readings_hourly (
        muid      uuid             NOT NULL,
        obis      text             NOT NULL,
        bucket    timestamptz      NOT NULL,  -- the hour's start, UTC
        total     double precision NOT NULL,
        n         bigint           NOT NULL,
        -- Nullable as in the continuous aggregate; an hour with readings always has both.
        min_value double precision,
        max_value double precision,
        PRIMARY KEY (muid, obis, bucket)
    );
    COMMENT ON TABLE readings_hourly IS
        'per series and UTC hour: sum, count, min and max of readings.value; kept current by triggers on readings';
    INSERT INTO readings_hourly (muid, obis, bucket, total, n, min_value, max_value)
    SELECT muid, obis, date_trunc('hour', ts, 'UTC'), sum(value), count(*), min(value), max(value)
    FROM readings
    GROUP BY 1, 2, 3;

    CREATE TRIGGER readings_hourly_insert AFTER INSERT ON readings
        REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_add();
    CREATE TRIGGER readings_hourly_update AFTER UPDATE ON readings
        REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
        FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_changed();
    CREATE TRIGGER readings_hourly_delete AFTER DELETE ON readings
        REFERENCING OLD TABLE AS before_rows
        FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_changed();
    CREATE TRIGGER readings_hourly_truncate AFTER TRUNCATE ON readings
        FOR EACH STATEMENT EXECUTE FUNCTION readings_hourly_truncate();

    CREATE VIEW readings_daily AS
    SELECT muid, obis, date_trunc('day', bucket, 'UTC') AS bucket,
           sum(total) AS total, sum(n)::bigint AS n, min(min_value) AS min_value, max(max_value) AS max_value
    FROM readings_hourly
    GROUP BY muid, obis, date_trunc('day', bucket, 'UTC');
END
$$;
