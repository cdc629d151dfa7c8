"""SQL of the insight routes (patterns, insights, overview, fleet, ETags), with bound parameters only.

Kept apart from sql.py so each stays short; the same rules hold: read the raw ``readings`` rows, or the
``readings_hourly`` rollup where every hour of the request is a whole UTC hour.
"""

from __future__ import annotations

# The versions an ETag is derived from: what the writer changes in channels with every batch it writes.
CHANNELS_VERSION = """
SELECT coalesce(sum(readings), 0)::bigint, max(updated_at), count(*)
FROM channels WHERE muid = ANY($1::uuid[])
"""

# Every channel a tenant may see ($1 NULL: every tenant), and whether a tenant owns a meter.
SCOPED_CHANNELS = """
SELECT c.muid, c.obis, c.quantity, c.direction, c.unit, c.first_ts, c.last_ts, c.interval_s
FROM channels c
WHERE $1::text IS NULL OR EXISTS (SELECT 1 FROM meter_tenants t WHERE t.muid = c.muid AND t.tenant = $1)
ORDER BY c.muid, c.obis
"""

# Energy and readings per clock hour of the zone ($3), by its local start (naive wall clock): date_trunc in
# the zone keeps both 02:00 hours of an autumn DST day apart (ordered by instant). From the rollup when the
# zone's clock hours are UTC hours (whole-hour offsets).
HOURLY_ENERGY = """
SELECT date_trunc('hour', ts, $3) AT TIME ZONE $3 AS l, sum(value) AS kwh, count(*) AS n
FROM readings
WHERE muid = $1 AND obis = $2 AND ts >= $4 AND ts < $5
GROUP BY date_trunc('hour', ts, $3) ORDER BY date_trunc('hour', ts, $3)
"""
HOURLY_ENERGY_FROM_ROLLUP = """
SELECT bucket AT TIME ZONE $3 AS l, total AS kwh, n
FROM readings_hourly
WHERE muid = $1 AND obis = $2 AND bucket >= $4 AND bucket < $5
ORDER BY bucket
"""

# Per local day of an export channel: the first and the last interval start with a non-zero value.
EXPORT_DAYS = """
SELECT (ts AT TIME ZONE $3)::date AS d, min(ts) AS first, max(ts) AS last
FROM readings
WHERE muid = $1 AND obis = $2 AND ts >= $4 AND ts < $5 AND value <> 0
GROUP BY 1 ORDER BY 1
"""

# Hour-of-day and weekday patterns: statistics of the energy per clock hour. GROUPING(weekday, hour): 0 = a
# cell of the 7 x 24 matrix, 1 = an hour of day over every weekday. $6: the day_type's dates or NULL.
_PATTERN_STATS = """
SELECT GROUPING(weekday, hour) AS g, weekday, hour, count(*) AS n, avg(v) AS mean, stddev_samp(v) AS std,
       min(v) AS lo, max(v) AS hi,
       percentile_cont(ARRAY[0.1, 0.5, 0.9]::float8[]) WITHIN GROUP (ORDER BY v) AS p
FROM (SELECT extract(isodow FROM l)::int - 1 AS weekday, extract(hour FROM l)::int AS hour, v FROM h) t
GROUP BY GROUPING SETS ((weekday, hour), (hour))
"""
PATTERNS_RAW = f"""
WITH h AS (
    SELECT date_trunc('hour', ts, $3) AT TIME ZONE $3 AS l, sum(value) AS v
    FROM readings
    WHERE muid = $1 AND obis = $2 AND ts >= $4 AND ts < $5
      AND ($6::date[] IS NULL OR (ts AT TIME ZONE $3)::date = ANY($6::date[]))
    GROUP BY date_trunc('hour', ts, $3)
)
{_PATTERN_STATS}
"""
PATTERNS_HOURLY = f"""
WITH h AS (
    SELECT bucket AT TIME ZONE $3 AS l, total AS v
    FROM readings_hourly
    WHERE muid = $1 AND obis = $2 AND bucket >= $4 AND bucket < $5
      AND ($6::date[] IS NULL OR (bucket AT TIME ZONE $3)::date = ANY($6::date[]))
)
{_PATTERN_STATS}
"""

# Fleet sums: the channels ($1 muids, $2 obis, $3 kind index) summed per bucket of the sorted edges $4.
_FLEET_CHANNELS = "unnest($1::uuid[], $2::text[], $3::int[]) AS c(muid, obis, kind)"
FLEET_SERIES_RAW = f"""
SELECT width_bucket(r.ts, $4::timestamptz[]) AS i, c.kind, sum(r.value) AS total, count(*) AS n,
       count(DISTINCT r.muid) AS meters
FROM {_FLEET_CHANNELS}
JOIN readings r ON r.muid = c.muid AND r.obis = c.obis AND r.ts >= $5 AND r.ts < $6
GROUP BY 1, 2
"""
FLEET_SERIES_HOURLY = f"""
SELECT width_bucket(r.bucket, $4::timestamptz[]) AS i, c.kind, sum(r.total) AS total, sum(r.n)::bigint AS n,
       count(DISTINCT r.muid) AS meters
FROM {_FLEET_CHANNELS}
JOIN readings_hourly r ON r.muid = c.muid AND r.obis = c.obis AND r.bucket >= $5 AND r.bucket < $6
GROUP BY 1, 2
"""

# Top meters by the energy of their channels $1/$2 in [$3, $4); $5 meters at most.
FLEET_TOP_RAW = """
SELECT c.muid, sum(r.value) AS kwh, count(*) AS n
FROM unnest($1::uuid[], $2::text[]) AS c(muid, obis)
JOIN readings r ON r.muid = c.muid AND r.obis = c.obis AND r.ts >= $3 AND r.ts < $4
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $5
"""
FLEET_TOP_HOURLY = """
SELECT c.muid, sum(r.total) AS kwh, sum(r.n)::bigint AS n
FROM unnest($1::uuid[], $2::text[]) AS c(muid, obis)
JOIN readings_hourly r ON r.muid = c.muid AND r.obis = c.obis AND r.bucket >= $3 AND r.bucket < $4
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $5
"""
