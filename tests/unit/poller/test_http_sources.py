"""http sources in the sources file: their settings, header secrets from the environment or files, and
the mistakes the file is checked for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from meterflow_poller.config import Settings
from meterflow_poller.sources import SourcesFileError
from sources_files import poller_settings, with_file


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch) -> Settings:
    return poller_settings(monkeypatch)


def test_an_http_source_beside_an_s3_one(base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C_KEY", "key-c")
    (tmp_path / "token").write_text("Bearer t\n")
    s3, http = with_file(
        base,
        tmp_path,
        f"""
sources:
  - name: utility-a
    bucket: bucket-a
  - name: utility-c
    kind: http
    base_url: http://127.0.0.1:8000
    muids: [m1, m2]
    start: 2023-02-01T00:00:00Z
    window_s: 604800
    limit: 500
    rate_per_s: 2
    interval_s: 60
    headers_env: {{X-API-Key: C_KEY}}
    headers_file: {{Authorization: {tmp_path / "token"}}}
""",
    )
    assert (s3.kind, s3.http) == ("s3", None)
    assert (http.kind, http.source_name, http.bucket, http.interval_s) == ("http", "utility-c", "http:utility-c", 60)
    assert http.http is not None
    assert http.http.muids == ["m1", "m2"] and http.http.start == datetime(2023, 2, 1, tzinfo=UTC)
    assert (http.http.window_s, http.http.limit, http.http.rate_per_s, http.http.measurement) == (
        604800,
        500,
        2,
        "energy",
    )
    assert {k: v.get_secret_value() for k, v in http.http.headers.items()} == {
        "X-API-Key": "key-c",
        "Authorization": "Bearer t",
    }
    assert http.election_group != s3.election_group
    assert "key-c" not in repr(http)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sources: [{name: a}]", "needs bucket"),
        ("sources: [{name: a, kind: http, base_url: 'http://x', start: 2023-02-01T00:00:00Z}]", "needs muids"),
        ("sources: [{name: a, kind: http, muids: [m], start: 2023-02-01T00:00:00Z}]", "needs base_url"),
        ("sources: [{name: a, kind: http, base_url: 'http://x', muids: [m]}]", "needs start"),
        ("sources: [{name: a, kind: http, base_url: 'ftp://x', muids: [m], start: 2023-02-01T00:00:00Z}]", "base_url"),
        ("sources: [{name: a, bucket: bbb, muids: [m]}]", "only for kind: http"),
        ("sources: [{name: a, bucket: bbb, limit: 5}]", "limit: only for kind: http"),
        (
            "sources: [{name: a, kind: http, bucket: bbb, base_url: 'http://x', muids: [m], "
            "start: 2023-02-01T00:00:00Z}]",
            "only for kind: s3",
        ),
        (
            "sources: [{name: a, kind: http, base_url: 'http://x', muids: [m], start: 2023-02-01T00:00:00Z, "
            "headers: {X-API-Key: inline}}]",
            "headers",
        ),
        (
            "sources: [{name: a, kind: http, base_url: 'http://x', muids: [m], start: 2023-02-01T00:00:00Z, "
            "headers_env: {X-API-Key: NOPE_UNSET}}]",
            "NOPE_UNSET",
        ),
        (
            "sources: [{name: a, kind: http, base_url: 'http://x', muids: [m], start: 2023-02-01T00:00:00Z}, "
            "{name: b, kind: http, base_url: 'http://x', muids: [m], start: 2023-02-01T00:00:00Z}]",
            "twice",
        ),
    ],
)
def test_a_bad_http_source_says_what_to_fix(base: Settings, tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SourcesFileError, match=says):
        with_file(base, tmp_path, text)
