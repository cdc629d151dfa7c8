"""Pydantic models of every Meterflow topic (schema_version 1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NonNegativeInt, model_validator


class _Contract(BaseModel):
    # Unknown fields are ignored so a consumer keeps working when a producer adds an optional field
    # (the compatibility promise in docs/contracts.md); a change of meaning needs a new topic.
    model_config = ConfigDict(frozen=True, extra="ignore")


class SourcePosition(_Contract):
    """Where a piece of data came from: the object, its version and the records it covers."""

    bucket: str = Field(description="S3 bucket of the source object.")
    key: str = Field(description="S3 object key.")
    etag: str = Field(description="ETag of the object version that was read.")
    chunk_index: NonNegativeInt = Field(description="Index of the raw chunk within the object, from 0.")
    record_start: NonNegativeInt = Field(description="Index of the chunk's first record within the object.")
    record_end: NonNegativeInt = Field(description="Index one past the chunk's last record.")
    # Optional so that messages of producers before issue 12 stay valid; readers treat None as oldest.
    last_modified: AwareDatetime | None = Field(
        default=None, description="The object's S3 LastModified: with the record index, the data's version."
    )
    generation: NonNegativeInt | None = Field(
        default=None, description="Generation of the poller leader that published it (stale leaders are fenced)."
    )


# The tenants table's slug rule (migration 0008): a message naming another tenant cannot be stored.
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TenantName = Annotated[str, Field(pattern=TENANT_PATTERN)]
# Optional so that messages of producers before issue 13 stay valid: no tenant, no binding.
_TENANT_DESCRIPTION = "Tenant the source (bucket/prefix) is bound to; its new meters are assigned to it."


class RawBatch(_Contract):
    """``meter.raw.v1``: a chunk of source records exactly as the object holds them."""

    schema_version: Literal[1] = 1
    source: SourcePosition
    last_chunk: bool = Field(description="True on the object's final chunk.")
    records: list[Any] = Field(description="Source records, untouched JSON values.")
    published_at: AwareDatetime
    tenant: TenantName | None = Field(default=None, description=_TENANT_DESCRIPTION)


# A reading on the wire: [interval start (UTC, ISO 8601), value, quality]. Tuples keep a batch of
# thousands of readings compact and cheap to validate.
Reading = tuple[AwareDatetime, float, str]


class ReadingBatch(_Contract):
    """``meter.readings.v1``: typed readings of one meter and one OBIS channel, keyed by muid."""

    schema_version: Literal[1] = 1
    muid: UUID = Field(description="Meter (measurement unit) id.")
    obis: str = Field(description="Normalized OBIS code, e.g. 1-0:1.29.0*255.", examples=["1-0:1.29.0*255"])
    obis_hex: str = Field(description="The vendor's 12-digit hex form.", examples=["0100011D00FF"])
    quantity: str = Field(description="Decoded quantity, e.g. active_energy.", examples=["active_energy"])
    direction: str | None = Field(description="import, export, q1..q4, absolute or null.")
    unit: str | None = Field(description="Unit of every value, e.g. kWh.", examples=["kWh"])
    measurement: str = Field(description="Source measurement kind: energy or power.")
    interval_s: int | None = Field(description="Interval length in seconds where known (900 for 15 min).")
    readings: list[Reading] = Field(min_length=1, description="[ts, value, quality] triples, ts ascending.")
    # A parallel list rather than a 4th tuple element: old readers ignore it, old producers omit it, and a
    # list of ints is far cheaper to validate than a union of tuple shapes.
    record_indexes: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        default=None,
        description="Per reading, the index of its record within the source object (its version's tiebreak).",
    )
    source: SourcePosition
    tenant: TenantName | None = Field(default=None, description=_TENANT_DESCRIPTION)

    @model_validator(mode="after")
    def _one_index_per_reading(self) -> ReadingBatch:
        if self.record_indexes is not None and len(self.record_indexes) != len(self.readings):
            raise ValueError(f"record_indexes has {len(self.record_indexes)} entries for {len(self.readings)} readings")
        return self


# Column sizes a v2 message may carry: int64 microseconds, and record indexes as PostgreSQL int4.
_MAX_RECORD_INDEX = 2**31 - 1


class ReadingColumns(_Contract):
    """``meter.readings.v2``: the readings of one meter and one OBIS channel as columns, keyed by muid.

    The same channel metadata as ``ReadingBatch`` (v1); the readings are parallel arrays rather than
    [ts, value, quality] triples: integers and doubles that a consumer turns into arrays in bulk (numpy,
    pyarrow) instead of parsing a timestamp text per reading. ``quality_codes[i]`` indexes ``qualities``.
    """

    schema_version: Literal[2] = 2
    muid: UUID = Field(description="Meter (measurement unit) id.")
    obis: str = Field(description="Normalized OBIS code, e.g. 1-0:1.29.0*255.", examples=["1-0:1.29.0*255"])
    obis_hex: str = Field(description="The vendor's 12-digit hex form.", examples=["0100011D00FF"])
    quantity: str = Field(description="Decoded quantity, e.g. active_energy.", examples=["active_energy"])
    direction: str | None = Field(description="import, export, q1..q4, absolute or null.")
    unit: str | None = Field(description="Unit of every value, e.g. kWh.", examples=["kWh"])
    measurement: str = Field(description="Source measurement kind: energy or power.")
    interval_s: int | None = Field(description="Interval length in seconds where known (900 for 15 min).")
    ts_us: list[int] = Field(min_length=1, description="Interval starts, microseconds since 1970-01-01 UTC, ascending.")
    values: list[float] = Field(description="Per reading, its value (IEEE double).")
    qualities: list[str] = Field(min_length=1, description="The distinct quality labels of the message.")
    quality_codes: list[int] = Field(description="Per reading, the index of its quality in qualities.")
    record_indexes: list[int] | None = Field(
        default=None,
        description="Per reading, the index of its record within the source object (its version's tiebreak).",
    )
    source: SourcePosition
    tenant: TenantName | None = Field(default=None, description=_TENANT_DESCRIPTION)

    @model_validator(mode="after")
    def _columns_of_one_length(self) -> ReadingColumns:
        n = len(self.ts_us)
        columns: dict[str, list[float] | list[int]] = {"values": self.values, "quality_codes": self.quality_codes}
        if self.record_indexes is not None:
            columns["record_indexes"] = self.record_indexes
        for name, column in columns.items():
            if len(column) != n:
                raise ValueError(f"{name} has {len(column)} entries for {n} timestamps")
        if min(self.quality_codes) < 0 or max(self.quality_codes) >= len(self.qualities):
            raise ValueError(f"quality_codes must index the {len(self.qualities)} qualities")
        if self.record_indexes is not None and (
            min(self.record_indexes) < 0 or max(self.record_indexes) > _MAX_RECORD_INDEX
        ):
            raise ValueError(f"record_indexes must be within 0..{_MAX_RECORD_INDEX}")
        return self


class DlqReason(StrEnum):
    """Why a record went to the dead-letter topic. Values are stable: dashboards and alerts use them."""

    INVALID_JSON = "invalid_json"
    INVALID_SHAPE = "invalid_shape"
    MISSING_MUID = "missing_muid"
    INVALID_MUID = "invalid_muid"
    MISSING_TIMESTAMP = "missing_timestamp"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_VALUE = "invalid_value"
    NON_FINITE_VALUE = "non_finite_value"
    INVALID_OBIS = "invalid_obis"
    NO_READINGS = "no_readings"
    DUPLICATE_CONFLICT = "duplicate_conflict"
    INVALID_MESSAGE = "invalid_message"
    DB_REJECTED = "db_rejected"
    RECORD_TOO_LARGE = "record_too_large"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    OFF_GRID_TIMESTAMP = "off_grid_timestamp"
    NEGATIVE_ENERGY = "negative_energy"
    UNEXPECTED_ERROR = "unexpected_error"


class DeadLetter(_Contract):
    """``meter.readings.dlq.v1``: something a stage could not trust, with the reason and the evidence."""

    schema_version: Literal[1] = 1
    reason: DlqReason
    message: str = Field(description="Human explanation of what is wrong.")
    stage: Literal["poller", "normalizer", "writer"]
    record: Any = Field(description="The offending raw record (or a text excerpt when it was not JSON).")
    source: SourcePosition | None = None
    failed_at: AwareDatetime


class Checkpoint(_Contract):
    """``meter.poller.checkpoints.v1`` (compacted, key bucket/key): an object fully published."""

    schema_version: Literal[1] = 1
    bucket: str
    key: str
    etag: str
    size: NonNegativeInt
    records: NonNegativeInt
    chunks: NonNegativeInt
    completed_at: datetime
    generation: NonNegativeInt | None = Field(default=None, description="Generation of the leader that wrote it.")
