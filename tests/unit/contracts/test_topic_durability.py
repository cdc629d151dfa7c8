"""Topic durability: what the topics are created with, and which existing topics count as weaker."""

from __future__ import annotations

import pytest
from meterflow_contracts import CHECKPOINTS, DLQ, RAW, TopicDurability
from meterflow_contracts.admin import new_topic, weaknesses
from meterflow_kit.settings import KafkaSettings, shared_durability


def test_production_defaults_keep_by_time_only_and_the_dlq_until_replayed() -> None:
    durability = TopicDurability()
    assert (durability.replication_factor, durability.min_insync_replicas) == (3, 2)
    raw = RAW.config(durability)
    assert raw["retention.bytes"] == "-1"
    assert raw["min.insync.replicas"] == "2"
    assert int(raw["retention.ms"]) > 0
    assert DLQ.config(durability)["retention.ms"] == "-1"
    assert CHECKPOINTS.config(durability)["cleanup.policy"] == "compact"
    assert new_topic(RAW, ".x").replication_factor == 3
    assert new_topic(RAW, ".x", TopicDurability.single_broker()).replication_factor == 1


def test_a_message_fits_only_with_room_for_the_envelope() -> None:
    assert RAW.fits(b"k", b"x" * (RAW.max_message_bytes // 2))
    assert not RAW.fits(b"k", b"x" * RAW.max_message_bytes)


@pytest.mark.parametrize(
    ("replicas", "actual", "weaker"),
    [
        (3, {}, []),
        (1, {}, ["replication factor 1 < 3"]),
        (3, {"retention.bytes": "536870912"}, ["retention.bytes 536870912 < -1"]),
        (3, {"retention.ms": "86400000"}, ["retention.ms 86400000 < 604800000"]),
        (3, {"retention.ms": "-1"}, []),  # forever is never weaker
        (3, {"min.insync.replicas": "1"}, ["min.insync.replicas 1 < 2"]),
        (3, {"max.message.bytes": "1048588"}, ["max.message.bytes 1048588 < 4194304"]),
    ],
)
def test_weaknesses_name_what_is_weaker(replicas: int, actual: dict[str, str], weaker: list[str]) -> None:
    durability = TopicDurability()
    declared = RAW.config(durability)
    assert weaknesses(replicas, {**declared, **actual}, declared, durability) == weaker


def test_a_finite_dlq_retention_is_weaker_than_until_replayed() -> None:
    durability = TopicDurability()
    declared = DLQ.config(durability)
    assert weaknesses(3, {**declared, "retention.ms": "604800000"}, declared, durability) == [
        "retention.ms 604800000 < -1"
    ]


def test_shared_variables_set_every_service_s_durability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "1")
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "1")
    from meterflow_poller.config import Settings

    settings = Settings(aws_access_key_id="a", aws_secret_access_key="b")  # type: ignore[call-arg]
    assert settings.kafka.topics == TopicDurability.single_broker()
    assert shared_durability() == TopicDurability.single_broker()
    assert KafkaSettings().topics == TopicDurability()  # a bare model takes no environment
