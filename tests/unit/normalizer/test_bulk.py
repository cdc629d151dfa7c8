"""The clean-batch path (bulk.py) against the record-by-record rules: for any batch, normalize() gives what
the rules alone give, and a clean batch does take the bulk path (else the comparison would prove nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from meterflow_contracts import RawBatch, SourcePosition
from meterflow_contracts.columnar import micros_of
from meterflow_normalizer.bulk import clean_batch_columns
from meterflow_normalizer.domain import NormalizeResult, normalize, normalize_by_record
from real_data import REAL_FILES, real_records

NOW = datetime(2023, 3, 1, tzinfo=UTC)
LATEST = micros_of(NOW + timedelta(days=2))
MUIDS = ["95ce3367-cbce-4a4d-bbe3-da082831d7bd", "1DB7649E-9342-4E04-97C7-F0EBB88ED1F8"]
CHANNELS = [["0100011D00FF"], ["0100011D00FF", "0100021D00FF"], ["1-0:1.29.0*255"], ["0100100700FF"]]


def batch(records: list[Any], record_start: int = 0, tenant: str | None = None) -> RawBatch:
    source = SourcePosition(
        bucket="b",
        key="k.json",
        etag="e",
        chunk_index=0,
        record_start=record_start,
        record_end=record_start + len(records),
    )
    return RawBatch(source=source, last_chunk=True, records=records, published_at=NOW, tenant=tenant)


def as_compared(result: NormalizeResult) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    return (
        [c.model_dump() for c in result.columns],
        [(d.reason.value, d.record) for d in result.dead_letters],
    )


@st.composite
def clean_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records of one meter and shape, each quarter hour once, in any order; values as sources write them."""
    muid = draw(st.sampled_from(MUIDS))
    channels = draw(st.sampled_from(CHANNELS))
    # A run of quarter hours (the 15-minute grid is then the channel's own), in any order.
    first, count = draw(st.integers(0, 4 * 24 * 27)), draw(st.integers(1, 60))
    quarters = draw(st.permutations(range(first, first + count)))
    qualities = draw(st.lists(st.sampled_from(["measured", "estimated", "substituted"]), min_size=1, max_size=3))
    value = st.one_of(st.floats(0, 1e6, allow_nan=False), st.integers(0, 10**6))
    return [
        {
            "measurement": "power" if channels == ["0100100700FF"] else "energy",
            "timestamp": (datetime(2023, 2, 1, tzinfo=UTC) + timedelta(minutes=15 * q))
            .isoformat()
            .replace("+00:00", "Z"),
            "tags": {"muid": muid, "quality": qualities[n % len(qualities)]},
            **{channel: draw(value) for channel in channels},
        }
        for n, q in enumerate(quarters)
    ]


def spoil(records: list[dict[str, Any]], how: str, at: int) -> list[Any]:
    """One record of a clean batch made bad (or the batch made unlike), as sources do."""
    spoiled: list[Any] = [dict(r, tags=dict(r["tags"])) for r in records]
    target = spoiled[at % len(spoiled)]
    obis = next(k for k in target if k not in ("measurement", "timestamp", "tags"))
    changes: dict[str, Any] = {
        "repeat": lambda: spoiled.append(dict(target)),
        "conflict": lambda: spoiled.append(dict(target, **{obis: -1.0 if target[obis] else 1.0})),
        "off_grid": lambda: target.update(timestamp="2023-02-01T00:07:00Z"),
        "negative": lambda: target.update({obis: -0.5}),
        "bool": lambda: target.update({obis: True}),
        "text": lambda: target.update({obis: "0.5"}),
        "null": lambda: target.update({obis: None}),
        "other_meter": lambda: target["tags"].update(muid="1db7649e-9342-4e04-97c7-f0ebb88ed1f8"),
        "bad_muid": lambda: target["tags"].update(muid="not-a-uuid"),
        "no_quality": lambda: target["tags"].pop("quality"),
        "empty_quality": lambda: target["tags"].update(quality=""),
        "extra_key": lambda: target.update(comment="x"),
        "missing_key": lambda: target.pop("timestamp"),
        "future": lambda: target.update(timestamp="2030-01-01T00:00:00Z"),
        "ancient": lambda: target.update(timestamp="1999-12-31T23:45:00Z"),
        "naive": lambda: target.update(timestamp="2023-02-01T00:00:00"),
        "offset": lambda: target.update(timestamp="2023-02-01T01:00:00+01:00"),
        "measurement": lambda: target.update(measurement="volume"),
        "not_a_dict": lambda: spoiled.insert(at % len(spoiled), [1, 2]),
        "tags_text": lambda: target.update(tags="muid"),
        "second_spelling": lambda: target.update({"1-0:1.29.0*255": 0.1}),
    }
    changes[how]()
    return spoiled


@settings(max_examples=300, deadline=None)
@given(clean_records(), st.integers(0, 10_000), st.sampled_from([None, "acme"]))
def test_a_clean_batch_takes_the_bulk_path_with_the_same_messages(
    records: list[dict[str, Any]], record_start: int, tenant: str | None
) -> None:
    raw = batch(records, record_start, tenant)
    assert clean_batch_columns(raw, LATEST) is not None
    assert as_compared(normalize(raw, now=NOW)) == as_compared(normalize_by_record(raw, now=NOW))


HOW = [
    "repeat", "conflict", "off_grid", "negative", "bool", "text", "null", "other_meter", "bad_muid", "no_quality",
    "empty_quality", "extra_key", "missing_key", "future", "ancient", "naive", "offset", "measurement",
    "not_a_dict", "tags_text", "second_spelling",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(clean_records(), st.sampled_from(HOW), st.integers(0, 100))
def test_any_spoiled_batch_gives_what_the_record_rules_give(records: list[dict[str, Any]], how: str, at: int) -> None:
    raw = batch(spoil(records, how, at))
    assert as_compared(normalize(raw, now=NOW)) == as_compared(normalize_by_record(raw, now=NOW))


def test_the_real_files_take_the_bulk_path_with_the_same_messages() -> None:
    for muid in REAL_FILES:
        raw = batch(real_records(muid))
        now = datetime(2023, 3, 2, tzinfo=UTC)
        assert clean_batch_columns(raw, micros_of(now + timedelta(days=2))) is not None
        assert as_compared(normalize(raw, now=now)) == as_compared(normalize_by_record(raw, now=now))
