"""The poller's pure logic, without I/O: planning, chunking, parsing the source format, checkpoint
records, leadership and settings."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError
from hypothesis import given
from hypothesis import strategies as st
from meterflow_contracts import CHECKPOINTS, Checkpoint, DlqReason
from meterflow_poller.config import Settings
from meterflow_poller.domain import (
    Leadership,
    MalformedObject,
    ObjectInfo,
    Outcome,
    Planner,
    apply_checkpoint_record,
    confirmed_deletions,
    default_group_id,
    normalize_prefixes,
    plan,
)
from meterflow_poller.errors import S3Error
from meterflow_poller.parsing import chunk_records, shape_problem, source_chunks
from meterflow_poller.s3 import static_credentials, translate_errors

# -- planning ----------------------------------------------------------------------------------------


def test_plan_classifies_new_changed_skipped_and_deleted() -> None:
    listed = [ObjectInfo("a", "e1", 10), ObjectInfo("b", "e2-new", 10), ObjectInfo("c", "e3", 10)]
    checkpoints = {"b": "e2", "c": "e3", "d": "e4"}

    result = plan(listed, checkpoints)

    assert [o.key for o in result.new] == ["a"]
    assert [o.key for o in result.changed] == ["b"]
    assert [o.key for o in result.skipped] == ["c"]
    assert result.deleted == ["d"]
    assert [o.key for o in result.to_publish] == ["a", "b"]


def test_an_empty_listing_deletes_no_checkpoint_and_publishes_nothing() -> None:
    """An empty listing while checkpoints exist is far likelier an S3 or proxy fault than an emptied
    bucket: acting on it would publish the whole bucket again once the objects are listed again."""
    planner = Planner({"x": "1", "y": "2"})
    assert planner.listing_empty
    assert planner.missing() == []
    result = plan([], {"x": "1", "y": "2"})
    assert result.to_publish == []
    assert result.deleted == []


def test_an_empty_bucket_without_checkpoints_is_just_empty() -> None:
    assert not Planner({}).listing_empty


def test_a_deletion_is_confirmed_only_by_a_second_listing_that_misses_it_too() -> None:
    missing = ["gone", "back"]
    relisted = [ObjectInfo("back", "1", 1), ObjectInfo("other", "2", 1)]
    assert confirmed_deletions(missing, relisted) == ["gone"]
    assert confirmed_deletions(missing, []) == []  # an empty second listing confirms nothing
    assert confirmed_deletions([], relisted) == []


def test_checkpoints_outside_the_prefixes_are_not_deleted() -> None:
    """Objects of other prefixes were not listed, so their checkpoints say nothing about deletion."""
    result = plan([ObjectInfo("in/a", "1", 1)], {"in/a": "1", "in/gone": "2", "out/b": "3"}, prefixes=["in/"])
    assert result.deleted == ["in/gone"]
    assert [o.key for o in result.skipped] == ["in/a"]


def test_the_planner_works_one_listed_object_at_a_time() -> None:
    planner = Planner({"a": "1", "b": "2"})
    assert planner.classify(ObjectInfo("b", "2", 1)) is Outcome.SKIPPED
    assert planner.classify(ObjectInfo("c", "3", 1)) is Outcome.NEW
    assert planner.deleted() == ["a"]


@given(
    st.dictionaries(st.text(max_size=4), st.sampled_from(["e1", "e2"]), max_size=12),
    st.dictionaries(st.text(max_size=4), st.sampled_from(["e1", "e2"]), max_size=12),
)
def test_plan_accounts_for_every_listed_object_and_checkpoint(listed: dict[str, str], done: dict[str, str]) -> None:
    result = plan([ObjectInfo(k, e, 0) for k, e in listed.items()], done)
    assert sorted(o.key for o in [*result.new, *result.changed, *result.skipped]) == sorted(listed)
    # Deletion candidates are what the listing missed, unless it listed nothing at all.
    assert set(result.deleted) == (set(done) - set(listed) if listed else set())
    assert all(o.key not in done for o in result.new)
    assert all(done[o.key] != o.etag for o in result.changed)
    assert all(done[o.key] == o.etag for o in result.skipped)


@pytest.mark.parametrize(
    ("given_prefixes", "expected"),
    [
        ([""], [""]),
        ([], [""]),
        (["a/", "a/b/", "b/"], ["a/", "b/"]),
        (["b/", "a/", "b/"], ["a/", "b/"]),
        (["x", ""], [""]),
    ],
)
def test_overlapping_prefixes_are_merged(given_prefixes: list[str], expected: list[str]) -> None:
    assert normalize_prefixes(given_prefixes) == expected


# -- chunking ----------------------------------------------------------------------------------------


class Stream:
    """Records with sizes, and a byte counter that advances as each record is consumed (optionally in
    read-ahead buffers, like the parser's)."""

    def __init__(self, sizes: list[int], read_ahead: int = 1) -> None:
        self.sizes = sizes
        self.read_ahead = read_ahead
        self.consumed = 0

    def __iter__(self) -> Any:
        for index, size in enumerate(self.sizes):
            self.consumed += size
            yield index

    def bytes_read(self) -> int:
        return -(-self.consumed // self.read_ahead) * self.read_ahead


def test_chunks_are_cut_at_the_record_bound() -> None:
    stream = Stream([10] * 12)
    chunks = list(chunk_records(stream, stream.bytes_read, max_records=5, max_bytes=10_000))
    assert [(c.index, c.record_start, c.record_end) for c in chunks] == [(0, 0, 5), (1, 5, 10), (2, 10, 12)]


def test_chunks_are_cut_at_the_byte_bound() -> None:
    stream = Stream([400] * 7)
    chunks = list(chunk_records(stream, stream.bytes_read, max_records=100, max_bytes=1_000))
    assert [len(c.records) for c in chunks] == [3, 3, 1]
    assert [c.source_bytes for c in chunks] == [1_200, 1_200, 400]


def test_no_records_no_chunks() -> None:
    stream = Stream([])
    assert list(chunk_records(stream, stream.bytes_read, max_records=5, max_bytes=1_000)) == []


@given(
    st.lists(st.integers(min_value=1, max_value=500), max_size=200),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=1, max_value=3_000),
    st.sampled_from([1, 64, 1_024]),
)
def test_chunks_keep_every_record_in_order_within_bounds(
    sizes: list[int], max_records: int, max_bytes: int, read_ahead: int
) -> None:
    stream = Stream(sizes, read_ahead)
    chunks = list(chunk_records(stream, stream.bytes_read, max_records, max_bytes))

    assert [r for c in chunks for r in c.records] == list(range(len(sizes)))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for before, after in itertools.pairwise(chunks):
        assert after.record_start == before.record_end
    for chunk in chunks:
        assert 1 <= len(chunk.records) <= max_records
        # A chunk closes as soon as it reaches the byte bound: it overshoots by at most its last record
        # plus one read-ahead buffer.
        assert chunk.source_bytes < max_bytes + max(sizes) + read_ahead


# -- the source format -------------------------------------------------------------------------------


def records(n: int) -> list[dict[str, Any]]:
    return [{"measurement": "energy", "timestamp": f"2023-02-01T00:{i:02d}:00Z", "0100011D00FF": i} for i in range(n)]


def test_source_chunks_parse_the_data_array_without_touching_records() -> None:
    body = json.dumps({"meta": {"data": [9]}, "data": records(7)}).encode()
    chunks = list(source_chunks(io.BytesIO(body), max_records=3, max_bytes=1_000_000))
    assert [c.records for c in chunks] == [records(7)[0:3], records(7)[3:6], records(7)[6:7]]


def test_numbers_keep_their_json_type() -> None:
    body = b'{"data": [{"a": 0.0117, "b": 3, "c": 1e-05}]}'
    (chunk,) = source_chunks(io.BytesIO(body), max_records=10, max_bytes=1_000_000)
    assert chunk.records == [{"a": 0.0117, "b": 3, "c": 1e-05}]
    assert isinstance(chunk.records[0]["a"], float)


def test_invalid_json_after_good_records_yields_them_then_reports_the_position() -> None:
    good = json.dumps(records(4))[1:-1]
    body = f'{{"data": [{good}, {{"broken": tru'.encode()
    chunks = source_chunks(io.BytesIO(body), max_records=3, max_bytes=1_000_000)
    first = next(chunks)
    second = next(chunks)
    with pytest.raises(MalformedObject) as fault:
        next(chunks)
    assert [len(first.records), len(second.records)] == [3, 1]
    assert fault.value.reason is DlqReason.INVALID_JSON
    assert fault.value.records_before == 4
    assert fault.value.byte_offset == len(body)
    assert "after 4 records" in str(fault.value)


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b'{"data": [1,, 2]}', b'{"data": []} trailing'])
def test_not_json_is_invalid_json(body: bytes) -> None:
    with pytest.raises(MalformedObject) as fault:
        list(source_chunks(io.BytesIO(body), max_records=10, max_bytes=1_000_000))
    assert fault.value.reason is DlqReason.INVALID_JSON


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"data": []}', None),
        (b'{"meta": {"data": 1}, "data": []}', None),
        (b"[]", "top-level JSON value is an array"),
        (b"42", "top-level JSON value is a number"),
        (b'{"readings": [1]}', "the top-level object has no 'data' key"),
        (b'{"meta": {"data": [1]}}', "the top-level object has no 'data' key"),
        (b'{"data": {"a": 1}}', "'data' is an object"),
        (b'{"data": "x"}', "'data' is a string"),
        (b'{"data": null}', "'data' is null"),
    ],
)
def test_shape_problems_are_named(body: bytes, problem: str | None) -> None:
    assert list(source_chunks(io.BytesIO(body), max_records=10, max_bytes=1_000_000)) == []
    found = shape_problem(io.BytesIO(body))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)


# -- checkpoint records ------------------------------------------------------------------------------


def checkpoint(bucket: str, key: str, etag: str) -> bytes:
    value = Checkpoint(
        bucket=bucket, key=key, etag=etag, size=1, records=1, chunks=1, completed_at=datetime(2023, 2, 1, tzinfo=UTC)
    )
    return CHECKPOINTS.encode_value(value)


def test_checkpoint_records_fold_into_the_latest_etag_per_key() -> None:
    state: dict[str, str] = {}
    apply_checkpoint_record(state, "b", b"b/k1", checkpoint("b", "k1", "e1"))
    apply_checkpoint_record(state, "b", b"b/k1", checkpoint("b", "k1", "e2"))
    apply_checkpoint_record(state, "b", b"b/dir/k2", checkpoint("b", "dir/k2", "e3"))
    assert state == {"k1": "e2", "dir/k2": "e3"}


def test_a_tombstone_forgets_the_object() -> None:
    state = {"k1": "e1"}
    apply_checkpoint_record(state, "b", b"b/k1", None)
    assert state == {}


def test_checkpoints_of_other_buckets_are_ignored() -> None:
    state: dict[str, str] = {}
    apply_checkpoint_record(state, "b", b"bb/k1", checkpoint("bb", "k1", "e1"))
    apply_checkpoint_record(state, "b", b"other/k1", checkpoint("other", "k1", "e1"))
    apply_checkpoint_record(state, "b", None, checkpoint("b", "k1", "e1"))
    assert state == {}


@pytest.mark.parametrize("value", [b"not json", b"{}", checkpoint("b", "another-key", "e9")])
def test_an_unreadable_checkpoint_means_publish_again(value: bytes) -> None:
    state = {"k1": "e1"}
    apply_checkpoint_record(state, "b", b"b/k1", value)
    assert state == {}


# -- leadership --------------------------------------------------------------------------------------


def test_gaining_leadership_starts_a_term() -> None:
    state = Leadership()
    assert not state.joined
    state.assigned(True)
    assert (state.leading, state.settled, state.term, state.joined) == (True, True, 1, True)
    assert state.may_publish(1)


def test_keeping_the_partition_across_a_rebalance_keeps_the_term() -> None:
    """Another instance joins: the sticky assignor keeps the partition here, work in progress goes on."""
    state = Leadership()
    state.assigned(True)
    state.revoked()
    assert not state.settled
    state.assigned(True)
    assert state.may_publish(1)


def test_losing_leadership_stops_work_of_the_old_term_for_good() -> None:
    state = Leadership()
    state.assigned(True)
    state.revoked()
    state.assigned(False)
    assert not state.may_publish(1)
    state.revoked()
    state.assigned(True)  # leading again, but another instance may have led in between
    assert state.term == 2
    assert not state.may_publish(1)
    assert state.may_publish(2)


def test_a_standby_never_publishes() -> None:
    state = Leadership()
    state.assigned(False)
    assert state.joined
    assert not state.may_publish(0)


def test_leaving_the_group_stops_publishing() -> None:
    state = Leadership()
    state.assigned(True)
    state.left()
    assert not state.may_publish(1)


def test_without_election_this_instance_always_leads() -> None:
    state = Leadership.sole()
    assert state.may_publish(state.term)


def test_election_groups_are_per_bucket_and_prefixes() -> None:
    assert default_group_id("raw", [""]) == "meterflow-poller.raw"
    assert default_group_id("raw", ["a/"]) == default_group_id("raw", ["a/", "a/b/"])
    assert default_group_id("raw", ["a/"]) != default_group_id("raw", ["b/"])
    assert default_group_id("raw", ["a/"]).startswith("meterflow-poller.raw.")


# -- settings ----------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("POLLER_PREFIXES", "POLLER_GROUP_ID", "POLLER_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    return monkeypatch


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", [""]), ("a/,b/", ["a/", "b/"]), (" a/ , a/b/ ", ["a/"]), ('["x/", "y/"]', ["x/", "y/"])],
)
def test_prefixes_come_comma_separated_or_as_json(env: pytest.MonkeyPatch, value: str, expected: list[str]) -> None:
    env.setenv("POLLER_PREFIXES", value)
    assert Settings().prefixes == expected


def test_defaults_poll_every_15_minutes_with_election(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.interval_s == 900
    assert settings.election
    assert settings.election_group == "meterflow-poller.meterflow-raw"
    assert settings.chunk_max_bytes + 64 * 1024 < 1_000_000


def test_credentials_have_no_defaults(env: pytest.MonkeyPatch) -> None:
    # No key pair of our own: boto3's chain (AWS_PROFILE, web identity, instance roles) finds one.
    env.delenv("AWS_ACCESS_KEY_ID")
    env.delenv("AWS_SECRET_ACCESS_KEY")
    settings = Settings()
    assert settings.aws_access_key_id is None and settings.aws_secret_access_key is None
    assert static_credentials(settings) == (None, None)


def test_half_a_key_pair_is_refused(env: pytest.MonkeyPatch) -> None:
    env.delenv("AWS_ACCESS_KEY_ID")
    with pytest.raises(ValueError, match=r"AWS_ACCESS_KEY_ID"):
        Settings()


def test_credentials_come_from_files(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("AWS_SECRET_ACCESS_KEY")
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    env.setenv("AWS_SECRET_ACCESS_KEY_FILE", str(secret))
    settings = Settings()
    assert static_credentials(settings) == ("k", "from-a-file")
    assert "from-a-file" not in repr(settings)


def test_a_source_binds_to_a_tenant_slug(env: pytest.MonkeyPatch) -> None:
    assert Settings().tenant is None
    env.setenv("POLLER_TENANT", "utility-1")
    assert Settings().tenant == "utility-1"
    env.setenv("POLLER_TENANT", "Not A Slug")
    with pytest.raises(ValueError, match="tenant"):
        Settings()


def test_no_credentials_anywhere_is_a_configuration_error_that_says_where_to_put_them() -> None:
    with pytest.raises(S3Error, match=r"no credentials found.*AWS_PROFILE") as raised, translate_errors("bkt"):
        raise NoCredentialsError()
    assert not raised.value.retriable
