"""Every SQL text the query API runs, with bound parameters only ($1, $2, ...); db.Session runs them.

The queries read the raw ``readings`` rows and aggregate them in SQL, which is right for any time zone and
for late or corrected data. The one exception: a series whose bucket bounds are all whole UTC hours (1h and
longer buckets in zones with whole-hour offsets) is summed from the ``readings_hourly`` rollup when the
database keeps one (see SERIES_FROM_HOURLY and ``API_SERIES_FROM_AGGREGATES``). What is known per channel
(metadata, interval, first and last reading, count) comes from the ``channels`` table.
"""

from __future__ import annotations

# A meter's channels as the writer keeps them in the channels table (migration 0006): one row per channel.
CHANNELS = """
SELECT obis, first_ts, last_ts, quantity, direction, unit, measurement, interval_s, readings, updated_at
FROM channels
WHERE muid = $1
ORDER BY obis
"""
# The same for a tenant's credential: another tenant's meter has no channels, exactly like an unknown one.
CHANNELS_OF_TENANT = """
SELECT obis, first_ts, last_ts, quantity, direction, unit, measurement, interval_s, readings, updated_at
FROM channels
WHERE muid = $1 AND EXISTS (SELECT 1 FROM meter_tenants WHERE muid = $1 AND tenant = $2)
ORDER BY obis
"""

# A page of meters from the channels table, by muid (keyset: after the cursor's meter): the distinct meters
# come from the primary key's index, their channels by one index probe each. $1 meters at most.
_METERS_COLUMNS = "c.muid, c.obis, c.quantity, c.direction, c.unit, c.first_ts, c.last_ts, c.readings"
METERS_FIRST = f"""
SELECT {_METERS_COLUMNS}
FROM (SELECT DISTINCT muid FROM channels ORDER BY muid LIMIT $1) m
CROSS JOIN LATERAL (SELECT * FROM channels WHERE muid = m.muid ORDER BY obis) c
ORDER BY c.muid, c.obis
"""
METERS_AFTER = f"""
SELECT {_METERS_COLUMNS}
FROM (SELECT DISTINCT muid FROM channels WHERE muid > $2 ORDER BY muid LIMIT $1) m
CROSS JOIN LATERAL (SELECT * FROM channels WHERE muid = m.muid ORDER BY obis) c
ORDER BY c.muid, c.obis
"""

# A tenant's page: its meters (meter_tenants_by_tenant, in muid order) that have channels. The cursor is the
# last muid of the previous page; a page only ever holds the tenant's own meters, whatever cursor is sent.
_TENANT_METERS_PAGE = f"""
SELECT {_METERS_COLUMNS}
FROM (
    SELECT t.muid FROM meter_tenants t
    WHERE t.tenant = $2 {{after}} AND EXISTS (SELECT 1 FROM channels x WHERE x.muid = t.muid)
    ORDER BY t.muid LIMIT $1
) m
CROSS JOIN LATERAL (SELECT * FROM channels WHERE muid = m.muid ORDER BY obis) c
ORDER BY c.muid, c.obis
"""
TENANT_METERS_FIRST = _TENANT_METERS_PAGE.format(after="")
TENANT_METERS_AFTER = _TENANT_METERS_PAGE.format(after="AND t.muid > $3")

# A page of readings as three arrays in ts order (one row; NULLs when the page is empty), the instants as epoch
# microseconds: arrays decode in a third of the client CPU of 3,000 rows, an int8 in a seventh of a timestamptz
# (instants.py; bench/README.md, issue 19). date_part is a float8 of the exact microseconds / 1e6: times 1e6 and
# rounded it is exact up to 2^53 µs (year 2255). The aggregates take the rows in the order the LIMITed
# subquery yields them (its index scan's: a LIMIT keeps the subquery from being flattened); an ORDER BY in
# each aggregate would sort the page three more times (+0.5 ms of PostgreSQL CPU a page).
READINGS = """
SELECT array_agg((date_part('epoch', ts) * 1000000)::int8) AS micros, array_agg(value) AS vals,
       array_agg(quality) AS qualities
FROM (
    SELECT ts, value, quality
    FROM readings
    WHERE muid = $1 AND obis = $2 AND ts >= $3 AND ts < $4
    ORDER BY ts
    LIMIT $5
) page
"""

# Fixed-length buckets (15m, 1h): an absolute grid from the first bucket start, aligned in Python to the
# zone's wall clock. generate_series lists every bucket so empty ones come back with n = 0.
SERIES_FIXED = """
WITH b AS (
    SELECT generate_series($3::timestamptz, $4::timestamptz, $5::interval) AS s
), r AS (
    SELECT date_bin($5::interval, ts, $3::timestamptz) AS k,
           sum(value) AS total, avg(value) AS mean, min(value) AS lo, max(value) AS hi, count(*) AS n
    FROM readings
    WHERE muid = $1 AND obis = $2 AND ts >= $6 AND ts < $7
      AND ($8::date[] IS NULL OR (ts AT TIME ZONE $9)::date = ANY($8::date[]))
    GROUP BY 1
)
SELECT b.s AS start, b.s + $5::interval AS "end", r.total, r.mean, r.lo, r.hi, coalesce(r.n, 0) AS n
FROM b LEFT JOIN r ON r.k = b.s
ORDER BY b.s
"""

# Calendar buckets (1d, 1w, 1mo): list the buckets as wall-clock times in the zone and convert their bounds with
# AT TIME ZONE (a day across a DST change is 23 or 25 hours), then aggregate each bucket's rows by an index
# range scan: no per-row time-zone arithmetic and no sort, about twice as fast as date_trunc per row.
SERIES_CALENDAR = """
WITH b AS (
    SELECT l AT TIME ZONE $7 AS s, (l + make_interval(months => $5, days => $6)) AT TIME ZONE $7 AS e
    FROM generate_series($3::timestamp, $4::timestamp, make_interval(months => $5, days => $6)) AS l
)
SELECT b.s AS start, b.e AS "end", r.total, r.mean, r.lo, r.hi, r.n
FROM b CROSS JOIN LATERAL (
    SELECT sum(value) AS total, avg(value) AS mean, min(value) AS lo, max(value) AS hi, count(*) AS n
    FROM readings
    WHERE muid = $1 AND obis = $2 AND ts >= greatest(b.s, $8) AND ts < least(b.e, $9)
      AND ($10::date[] IS NULL OR (ts AT TIME ZONE $7)::date = ANY($10::date[]))
) r
ORDER BY b.s
"""

# From the hourly rollup (readings_hourly: a table kept current by triggers on plain PostgreSQL, a continuous
# aggregate on TimescaleDB) when every bucket bound is a whole UTC hour: a quarter of the rows for 15-minute
# data. width_bucket finds each hour's bucket in the sorted bounds ($3); only non-empty buckets come back,
# by 1-based index, in no particular order. The mean is total/n, equal to avg(value) over the raw rows up
# to float rounding.
SERIES_FROM_HOURLY = """
SELECT width_bucket(bucket, $3::timestamptz[]) AS i,
       sum(total) AS total, sum(total) / sum(n) AS mean, min(min_value) AS lo, max(max_value) AS hi,
       sum(n)::bigint AS n
FROM readings_hourly
WHERE muid = $1 AND obis = $2 AND bucket >= $4 AND bucket < $5
  AND ($6::date[] IS NULL OR (bucket AT TIME ZONE $7)::date = ANY($6::date[]))
GROUP BY 1
"""

# day_type filters (every query below that takes one): a date[] of the local dates to keep in the request's
# zone (domain.holidays.selected_dates), NULL for every day; the planner drops the test when it is NULL.

# GROUPING(weekday, hour): 0 = one cell of the 7x24 matrix, 1 = a weekday, 2 = an hour of day.
PROFILE = """
SELECT GROUPING(weekday, hour) AS g, weekday, hour, avg(value) AS mean
FROM (
    SELECT extract(isodow FROM l)::int - 1 AS weekday, extract(hour FROM l)::int AS hour, value
    FROM (
        SELECT ts AT TIME ZONE $3 AS l, value
        FROM readings
        WHERE muid = $1 AND obis = $2 AND ts >= $4 AND ts < $5
    ) local_rows
    WHERE $6::date[] IS NULL OR l::date = ANY($6::date[])
) t
GROUP BY GROUPING SETS ((weekday, hour), (weekday), (hour))
"""

STATS = """
WITH r AS MATERIALIZED (
    SELECT ts, value FROM readings
    WHERE muid = $1 AND obis = $2 AND ts >= $3 AND ts < $4
      AND ($7::date[] IS NULL OR (ts AT TIME ZONE $5)::date = ANY($7::date[]))
), a AS (
    SELECT count(*) AS n, sum(value) AS total, avg(value) AS mean,
           percentile_cont($6::float8) WITHIN GROUP (ORDER BY value) AS base_load
    FROM r
), lo AS (
    SELECT value, ts FROM r ORDER BY value ASC, ts ASC LIMIT 1
), hi AS (
    SELECT value, ts FROM r ORDER BY value DESC, ts ASC LIMIT 1
), ph AS (
    SELECT extract(hour FROM ts AT TIME ZONE $5)::int AS hour, avg(value) AS mean
    FROM r GROUP BY 1 ORDER BY 2 DESC, 1 ASC LIMIT 1
), st AS (
    SELECT d, count(*) AS c
    FROM (SELECT ts - lag(ts) OVER (ORDER BY ts) AS d FROM r) deltas
    WHERE d > interval '0'
    GROUP BY d ORDER BY c DESC, d ASC LIMIT 1
)
SELECT a.n, a.total, a.mean, a.base_load, lo.value AS min_value, lo.ts AS min_at, hi.value AS max_value,
       hi.ts AS max_at, ph.hour AS peak_hour, st.d AS step
FROM a LEFT JOIN lo ON true LEFT JOIN hi ON true LEFT JOIN ph ON true LEFT JOIN st ON true
"""

VALUES = """
SELECT ts, value FROM readings WHERE muid = $1 AND obis = $2 AND ts >= $3 AND ts < $4 ORDER BY ts
"""

# The source API's records: one per interval start and quality, carrying every requested channel's value.
SOURCE_RECORDS = """
SELECT ts, quality, array_agg(obis ORDER BY obis) AS codes, array_agg(value ORDER BY obis) AS vals
FROM readings
WHERE muid = $1 AND obis = ANY($2::text[]) AND ts >= $3 AND ts < $4
GROUP BY ts, quality
ORDER BY ts DESC, quality
LIMIT $5
"""

# readings_hourly as a table (migration 0005, plain PostgreSQL) or a continuous aggregate (TimescaleDB); an
# ordinary view over the raw rows (before 0005) would not be faster than the raw rows themselves.
HOURLY_TABLE = """
SELECT coalesce((SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass('readings_hourly')), false)
"""
TIMESCALEDB = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
HOURLY_CAGG = """
SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates WHERE view_name = 'readings_hourly')
"""

# --- sites, tariffs and cost (migration 0010) ----------------------------------------------------------------

# Every tariff of the tariffs table with its versions (bands as jsonb text), by name and valid_from.
TARIFFS = """
SELECT t.name, t.description, t.zone, t.currency, t.holiday_country, t.holiday_subdivision, t.holiday_band,
       v.valid_from, v.fixed_monthly_fee::text, v.feed_in_price::text, v.bands::text
FROM tariffs t JOIN tariff_versions v ON v.tariff = t.name
ORDER BY t.name, v.valid_from
"""

# Energy per hour of a channel from the hourly rollup (with its readings), for pricing: [$3, $4) on whole UTC hours.
HOURLY_TOTALS = """
SELECT bucket, total, n FROM readings_hourly
WHERE muid = $1 AND obis = $2 AND bucket >= $3 AND bucket < $4
ORDER BY bucket
"""

# Energy of a channel in [$3, $4) grouped by local date in the tariff's zone ($5) and by the segment of the day
# between the tariff's band boundaries ($6, minutes after local midnight, ascending): every row of a group
# is in the same band at the same price (versions and holidays change on local dates), so pricing a group
# by its first instant prices each of its rows. A month of ch-ht-nt is 3 groups a day instead of 24 hours
# or 96 quarter hours. From the hourly rollup or from the raw readings.
_SEGMENTS = """
SELECT min(t) AS first, sum(v) AS total, sum(c)::bigint AS n
FROM (
    SELECT {t} AS t, {v} AS v, {c} AS c, {t} AT TIME ZONE $5 AS l
    FROM {table}
    WHERE muid = $1 AND obis = $2 AND {t} >= $3 AND {t} < $4
) r
GROUP BY l::date, width_bucket((extract(hour FROM l) * 60 + extract(minute FROM l))::int, $6::int[])
ORDER BY 1
"""
SEGMENTS_FROM_HOURLY = _SEGMENTS.format(t="bucket", v="total", c="n", table="readings_hourly")
SEGMENTS_FROM_RAW = _SEGMENTS.format(t="ts", v="value", c="1", table="readings")

# Sites ($1: a tenant, or NULL for every tenant) with their channels, by site name, role and label.
SITES = """
SELECT s.name, s.tenant, s.created_at, c.role, c.label, c.muid, c.obis
FROM sites s LEFT JOIN site_channels c ON c.site = s.name
WHERE ($1::text IS NULL OR s.tenant = $1)
ORDER BY s.name, c.role, c.label
"""
SITE = """
SELECT s.name, s.tenant, s.created_at, c.role, c.label, c.muid, c.obis
FROM sites s LEFT JOIN site_channels c ON c.site = s.name
WHERE s.name = $1 AND ($2::text IS NULL OR s.tenant = $2)
ORDER BY c.role, c.label
"""

# GET /v1/quality: a page of meters (keyset by muid after $2) with every channel. A channel is silent when
# its last reading is older than two of its intervals; a meter when all its channels with a known interval
# are. $3 keeps only silent (true) or only reporting (false) meters; $4 only the meters of that tenant.
QUALITY = """
WITH m AS (
    SELECT muid,
           coalesce(bool_and(last_ts < now() - make_interval(secs => 2 * interval_s))
                    FILTER (WHERE interval_s > 0), false) AS silent
    FROM channels
    WHERE ($2::uuid IS NULL OR muid > $2::uuid)
      AND ($4::text IS NULL OR muid IN (SELECT muid FROM meter_tenants WHERE tenant = $4::text))
    GROUP BY muid
    HAVING $3::boolean IS NULL
        OR coalesce(bool_and(last_ts < now() - make_interval(secs => 2 * interval_s))
                    FILTER (WHERE interval_s > 0), false) = $3::boolean
    ORDER BY muid
    LIMIT $1
)
SELECT c.muid, m.silent, c.obis, c.interval_s, c.first_ts, c.last_ts, c.readings,
       coalesce(c.interval_s > 0 AND c.last_ts < now() - make_interval(secs => 2 * c.interval_s), false)
FROM m JOIN channels c USING (muid)
ORDER BY c.muid, c.obis
"""
