-- channels: one row per meter (muid) and OBIS channel, with what is known about it once instead of on every
-- query: the decoded metadata, the usual interval, the first and last interval start and the exact number
-- of rows the channel has in readings.
-- Kept current by the writer in the same transaction as the readings it writes (docs/writer.md, "Channels");
-- whoever loads readings otherwise calls meterflow_schema.channels.refresh_channels for the channels it touched.
-- Filled here from the readings already there by this migration's Python step (meterflow_schema.migrate,
-- PYTHON_STEPS: the metadata is decoded from the OBIS code by meterflow_obis, which SQL cannot do).
-- A plain table on TimescaleDB and on PostgreSQL alike: it holds one row per channel, not per reading.
CREATE TABLE IF NOT EXISTS channels (
    muid        uuid        NOT NULL,
    obis        text        NOT NULL,  -- normalized like readings.obis, e.g. '1-0:1.29.0*255'
    quantity    text        NOT NULL,  -- decoded, e.g. 'active_energy'; 'unknown' outside the catalogue
    direction   text,                  -- import, export, q1..q4, absolute or NULL
    unit        text,                  -- unit of every value, e.g. 'kWh'; NULL when not known
    measurement text        NOT NULL,  -- the source's measurement kind: 'energy' or 'power' (else the quantity)
    interval_s  integer,               -- the usual step between readings, NULL while there is only one
    first_ts    timestamptz NOT NULL,  -- first interval start in readings
    last_ts     timestamptz NOT NULL,  -- last interval start in readings
    readings    bigint      NOT NULL,  -- exact number of rows in readings for the channel
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Serves the lookup of one meter's channels and the listing of meters in muid order with keyset
    -- pagination (WHERE muid > $last ORDER BY muid, obis): no other index is needed.
    PRIMARY KEY (muid, obis),
    CONSTRAINT channels_span CHECK (first_ts <= last_ts),
    CONSTRAINT channels_readings_positive CHECK (readings > 0)
);

COMMENT ON TABLE channels IS
    'per meter and OBIS channel: decoded metadata, usual interval, first/last interval start, exact readings count';
COMMENT ON COLUMN channels.readings IS 'exact number of rows in readings for (muid, obis)';
COMMENT ON COLUMN channels.interval_s IS 'most frequent step between consecutive readings, in seconds';
