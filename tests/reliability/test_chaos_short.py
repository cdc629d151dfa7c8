"""The chaos run in small (bench/chaos.py; the full one is `make chaos`): 57,616 readings through the real
pipeline on a Kafka and a PostgreSQL of the run's own while a seeded scheduler SIGKILLs five random stages,
restarts Kafka and PostgreSQL once each and re-uploads two corrected objects. The table must equal the
expected one value for value and the DLQ hold exactly the planted bad records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from meterflow_harness.paths import REPO
from meterflow_harness.servers import Servers

# bench/ is no package on the path: the repository root makes `bench.chaos` importable, as bench/run.py does.
sys.path.insert(0, str(REPO))
from bench.chaos import ChaosConfig, run_chaos

pytestmark = pytest.mark.reliability
SHORT = ChaosConfig(
    seed=5,
    meters=16,
    days=30,
    kills=5,
    kafka_restarts=1,
    pg_restarts=1,
    corrections=2,
    planted_objects=2,
    first_share=0.05,
    settle_timeout_s=600,
)


def test_short_chaos_run_loses_duplicates_and_alters_nothing(servers: Servers, tmp_path: Path) -> None:
    # Only S3 is shared: Kafka and PostgreSQL are the run's own, so it may restart them.
    result = run_chaos(SHORT, tmp_path / "logs", s3_endpoint=servers.s3_endpoint)
    report = "\n".join(result.lines())
    print(report)
    assert result.expected_readings >= 50_000, report
    assert result.total_kills == 5, report
    assert result.kills_mid_stream == 5, report
    assert (result.kafka_restarts, result.pg_restarts, result.corrections) == (1, 1, 2), report
    assert (result.lost, result.duplicated, result.unexpected, result.wrong) == (0, 0, 0, 0), report
    assert result.dlq_planted == 10, report
    assert (result.dlq_missing, result.dlq_unexpected) == (0, 0), report
    assert result.rows == result.expected_readings, report
    assert result.api_answers, report
