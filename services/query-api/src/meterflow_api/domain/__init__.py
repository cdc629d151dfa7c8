"""Pure logic of the query API, by topic; nothing here does I/O, so every rule the HTTP layer enforces is
unit-testable on its own.

- ``params``: parameter parsing (each value from its text), the 422 collector ``Problems``, page cursors
- ``calendar``: bucket sizes, range checks, the buckets of a series in a time zone, the hourly-rollup plan
- ``channels``: which channel a request means and its default range
- ``statistics``: coverage, profile views, autocorrelation
- ``source``: the source company's record format
- ``tariffs``, ``pricing``, ``balance``: tariffs as data, Decimal pricing by them, a site's energy balance
  (imported as modules, not re-exported below)

The names below are re-exported so callers may write ``domain.plan_series``; the exceptions these raise
live in ``meterflow_api.errors``.
"""

from meterflow_api.domain.calendar import (
    INTERVALS,
    MAX_ACF_LABEL,
    MAX_ACF_RANGE,
    MAX_ANALYSIS_LABEL,
    MAX_ANALYSIS_RANGE,
    ONE_HOUR,
    ONE_MICROSECOND,
    Interval,
    SeriesPlan,
    bucket_bounds,
    bucket_edges,
    bucket_floor,
    check_order,
    check_range,
    hourly_rollup_plan,
    parse_interval,
    plan_series,
    shown,
    wall_clock_span,
)
from meterflow_api.domain.channels import (
    DEFAULT_STEP,
    Channel,
    choose_channel,
    describe_channels,
    hex_of,
    resolve_range,
)
from meterflow_api.domain.params import (
    AGGS,
    DEFAULT_LIMIT,
    DEFAULT_METERS_LIMIT,
    EXAMPLE_MUID,
    MAX_LAG,
    MAX_LAGS,
    MAX_LIMIT,
    MAX_METERS_LIMIT,
    MEASUREMENT_DEFAULT_LIMIT,
    Problems,
    decode_cursor,
    decode_meters_cursor,
    encode_cursor,
    encode_meters_cursor,
    parse_agg,
    parse_instant,
    parse_lags,
    parse_limit,
    parse_muid,
    parse_obis,
    parse_zone,
    quoted,
)
from meterflow_api.domain.source import source_number, source_timestamp
from meterflow_api.domain.statistics import (
    BASE_LOAD_PERCENTILE,
    Profile,
    assemble_profile,
    autocorrelation,
    coverage,
    expected_intervals,
    regular_series,
)

__all__ = [
    "AGGS",
    "BASE_LOAD_PERCENTILE",
    "DEFAULT_LIMIT",
    "DEFAULT_METERS_LIMIT",
    "DEFAULT_STEP",
    "EXAMPLE_MUID",
    "INTERVALS",
    "MAX_ACF_LABEL",
    "MAX_ACF_RANGE",
    "MAX_ANALYSIS_LABEL",
    "MAX_ANALYSIS_RANGE",
    "MAX_LAG",
    "MAX_LAGS",
    "MAX_LIMIT",
    "MAX_METERS_LIMIT",
    "MEASUREMENT_DEFAULT_LIMIT",
    "ONE_HOUR",
    "ONE_MICROSECOND",
    "Channel",
    "Interval",
    "Problems",
    "Profile",
    "SeriesPlan",
    "assemble_profile",
    "autocorrelation",
    "bucket_bounds",
    "bucket_edges",
    "bucket_floor",
    "check_order",
    "check_range",
    "choose_channel",
    "coverage",
    "decode_cursor",
    "decode_meters_cursor",
    "describe_channels",
    "encode_cursor",
    "encode_meters_cursor",
    "expected_intervals",
    "hex_of",
    "hourly_rollup_plan",
    "parse_agg",
    "parse_instant",
    "parse_interval",
    "parse_lags",
    "parse_limit",
    "parse_muid",
    "parse_obis",
    "parse_zone",
    "plan_series",
    "quoted",
    "regular_series",
    "resolve_range",
    "shown",
    "source_number",
    "source_timestamp",
    "wall_clock_span",
]
