-- Sites and tariffs (docs/api.md, "Sites" and "Tariffs and cost").
-- A site groups a tenant's channels by role: what the grid delivers (import), what goes back to it (export),
-- what the PV system produces (production) and optional sub-meters (heat pump, EV charger, ...). A tariff is
-- a time-of-use price list in its own time zone, with versions that take effect on a date.
-- Plain tables on TimescaleDB and on PostgreSQL alike: a few rows each, read whole.

CREATE TABLE IF NOT EXISTS sites (
    -- A slug, like tenant names: it appears in URLs and CLI commands.
    name       text        PRIMARY KEY CONSTRAINT sites_name_slug CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    tenant     text        NOT NULL REFERENCES tenants (name) ON UPDATE CASCADE ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Serves "the caller's sites by name".
CREATE INDEX IF NOT EXISTS sites_by_tenant ON sites (tenant, name);

CREATE TABLE IF NOT EXISTS site_channels (
    site  text NOT NULL REFERENCES sites (name) ON UPDATE CASCADE ON DELETE CASCADE,
    role  text NOT NULL CONSTRAINT site_channels_role_known
                        CHECK (role IN ('import', 'export', 'production', 'submeter')),
    -- The sub-meter's name (heat_pump, ev_charger); '' for the other roles, which a site has at most once.
    label text NOT NULL DEFAULT '',
    muid  uuid NOT NULL,
    obis  text NOT NULL,  -- normalized like readings.obis, e.g. '1-0:1.29.0*255'
    PRIMARY KEY (site, role, label),
    CONSTRAINT site_channels_label_of_submeters CHECK ((role = 'submeter') = (label <> ''))
);

CREATE TABLE IF NOT EXISTS tariffs (
    -- A slug: the tariff= parameter of the cost endpoints.
    name                 text        PRIMARY KEY CONSTRAINT tariffs_name_slug
                                     CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    description          text        NOT NULL DEFAULT '',
    zone                 text        NOT NULL,  -- IANA zone in which the bands' weekdays and times are read
    currency             text        NOT NULL CONSTRAINT tariffs_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    -- Public holidays of this country (ISO 3166-1 alpha-2) and subdivision (e.g. canton ZH) are priced in
    -- holiday_band all day; NULL: holidays are ordinary days.
    holiday_country      text,
    holiday_subdivision  text,
    holiday_band         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tariffs_holidays_complete CHECK ((holiday_country IS NULL) = (holiday_band IS NULL))
);

-- A tariff's prices from valid_from (a date in the tariff's zone, from its midnight) until the next version.
-- The bands are one jsonb array per version rather than rows of their own: a version is read, validated
-- and replaced as a whole (by the API's tariff model, the same one that reads tariffs.yaml), never queried
-- band by band, and a price change is then one row that cannot be seen half-written. Shape:
-- [{"name": "high", "price": "0.32", "windows": [{"days": "mon-fri", "from": "07:00", "to": "20:00"}]},
--  {"name": "low", "price": "0.22"}]  -- a band without windows covers every other time.
CREATE TABLE IF NOT EXISTS tariff_versions (
    tariff            text    NOT NULL REFERENCES tariffs (name) ON UPDATE CASCADE ON DELETE CASCADE,
    valid_from        date    NOT NULL,
    fixed_monthly_fee numeric NOT NULL DEFAULT 0 CONSTRAINT tariff_versions_fee_positive CHECK (fixed_monthly_fee >= 0),
    feed_in_price     numeric NOT NULL DEFAULT 0 CONSTRAINT tariff_versions_feed_in_positive CHECK (feed_in_price >= 0),
    bands             jsonb   NOT NULL CONSTRAINT tariff_versions_bands_array CHECK (jsonb_typeof(bands) = 'array'),
    PRIMARY KEY (tariff, valid_from)
);

-- The query API reads sites and tariffs (0009's roles); the CLI writes them as the owner.
GRANT SELECT ON sites, site_channels, tariffs, tariff_versions TO meterflow_reader;
