"""The sources file: each source's settings are its fields over the poller's, secrets come from the
environment or files, and a file that cannot work says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from meterflow_poller.config import Settings
from meterflow_poller.sources import SourcesFileError, source_settings
from sources_files import poller_settings, with_file


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch) -> Settings:
    return poller_settings(monkeypatch)


def test_without_a_file_the_poller_has_its_one_source(base: Settings) -> None:
    assert source_settings(base) == [base]


def test_each_source_overrides_what_it_names(base: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_KEY", "key-a")
    (tmp_path / "secret").write_text("secret-a\n")
    a, b = with_file(
        base,
        tmp_path,
        f"""
sources:
  - name: utility-a
    bucket: bucket-a
    tenant: utility-a
    prefixes: [x/, x/y/]
    notification_queue_url: http://127.0.0.1:9000/123456789012/q
    interval_s: 3600
    credentials: {{access_key_id_env: A_KEY, secret_access_key_file: {tmp_path / "secret"}}}
  - name: utility-b
    bucket: bucket-b
""",
    )
    assert (a.source_name, a.bucket, a.prefixes, a.interval_s) == ("utility-a", "bucket-a", ["x/"], 3600)
    assert (a.aws_access_key_id.get_secret_value(), a.aws_secret_access_key.get_secret_value()) == ("key-a", "secret-a")
    assert a.notification_queue_url == "http://127.0.0.1:9000/123456789012/q"
    assert (a.tenant, b.tenant) == ("utility-a", base.tenant)  # the source's binding, else the poller's
    assert (b.source_name, b.bucket, b.prefixes, b.interval_s) == ("utility-b", "bucket-b", [""], base.interval_s)
    assert b.aws_access_key_id.get_secret_value() == "poller-key"  # the poller's own
    assert a.election_group != b.election_group  # each source elects its own leader


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sources: []", "sources"),
        ("sources: [{name: A, bucket: bucket-a}]", "name"),
        ("sources: [{name: a, bucket: b1x}, {name: a, bucket: b2x}]", "unique"),
        ("sources: [{name: a, bucket: bbb}, {name: b, bucket: bbb}]", "same bucket"),
        ("sources: [{name: a, bucket: bbb, secret: x}]", "secret"),
        ("sources: [{name: a, bucket: bbb, credentials: {access_key_id_env: X}}]", "secret_access_key"),
        (
            "sources: [{name: a, bucket: bbb, credentials: "
            "{access_key_id_env: NOPE_UNSET, secret_access_key_env: NOPE_UNSET}}]",
            "NOPE_UNSET",
        ),
        ("sources: [unclosed", "not valid YAML"),
    ],
)
def test_a_bad_file_says_what_to_fix(base: Settings, tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SourcesFileError, match=says):
        with_file(base, tmp_path, text)
