"""The normalizer: a Faust app that turns meter.raw.v1 into typed meter.readings.v1 batches (+ DLQ).

Run it with ``meterflow-normalizer`` (settings from NORMALIZER_* / KAFKA_BOOTSTRAP_SERVERS).
Scale out by starting more workers: they share the raw topic's partitions in one consumer group.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
import structlog
from aiokafka.errors import KafkaError
from meterflow_contracts import DLQ, RAW, READINGS, RawBatch
from meterflow_kit.dead_letters import invalid_message
from meterflow_kit.lag import GroupLagExporter
from meterflow_kit.logs import configure_logging
from meterflow_kit.topic_check import check_topics

from meterflow_normalizer import metrics
from meterflow_normalizer.config import Settings
from meterflow_normalizer.domain import NormalizeResult, normalize
from meterflow_normalizer.fencing import GenerationFence

log = structlog.get_logger("meterflow.normalizer")
# One per worker process (the agent's concurrency is 1): see fencing.py for the rule.
FENCE = GenerationFence()


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=True,
        web_host=settings.ops_host,
        web_port=settings.ops_port,
        web_in_thread=False,
        # Raw batches can approach 1 MB; one at a time per partition keeps memory flat.
        stream_buffer_maxsize=16,
        producer_max_request_size=4 * 1024 * 1024,
        consumer_max_fetch_size=4 * 1024 * 1024,
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka.session_timeout_s,
    )
    raw_topic = app.topic(settings.raw_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    readings_topic = app.topic(settings.readings_topic, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")

    # Concurrency 1: higher agent concurrency can lose messages on a crash (faust-streaming issue 606).
    @app.agent(raw_topic, concurrency=1)
    async def normalize_raw(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            key = event.key if isinstance(event.key, bytes) else b""
            await handle_raw(event.value, key, readings_topic, dlq_topic)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def export_lag() -> None:
        await export_lag_forever(settings)

    app.task(export_lag)

    async def check_own_topics() -> None:
        await check_topics(
            settings.kafka, {settings.raw_topic: RAW, settings.readings_topic: READINGS, settings.dlq_topic: DLQ}
        )

    app.task(check_own_topics)

    register_ops_pages(app)
    return app


async def handle_raw(value: bytes | None, key: bytes, readings_topic: faust.TopicT, dlq_topic: faust.TopicT) -> None:
    """Validate, normalize and publish one raw batch. Sends attach to the event, so Faust commits the
    raw offset only after they are acknowledged (the producer is flushed before every commit)."""
    metrics.RAW_BATCHES.inc()
    try:
        raw = RAW.deserialize(value or b"")
    except ValueError as error:
        await publish_invalid_message(value, key, str(error), dlq_topic)
        return
    if not FENCE.admits(raw.source):
        metrics.STALE_BATCHES.inc()
        log.warning("raw batch of a stale poller leader refused", key=raw.source.key, generation=raw.source.generation)
        return
    result = normalize(raw)
    for batch in result.batches:
        batch_key, batch_value = READINGS.serialize(batch)
        await readings_topic.send(key=batch_key, value=batch_value)
    for dead in result.dead_letters:
        dead_key, dead_value = DLQ.serialize(dead, raw.source.key)
        await dlq_topic.send(key=dead_key, value=dead_value)
    record_result(result, raw)


async def publish_invalid_message(value: bytes | None, key: bytes, error: str, dlq_topic: faust.TopicT) -> None:
    dead = invalid_message("normalizer", RAW, value, error)
    dead_key, dead_value = DLQ.serialize(dead, key)
    await dlq_topic.send(key=dead_key, value=dead_value)
    metrics.DLQ_RECORDS.labels(reason=dead.reason.value).inc()
    log.warning("invalid raw message", reason=dead.reason.value)


def record_result(result: NormalizeResult, raw: RawBatch) -> None:
    metrics.RECORDS_IN.inc(result.records_in)
    metrics.READINGS_OUT.inc(result.readings_out)
    metrics.BATCHES_OUT.inc(len(result.batches))
    for dead in result.dead_letters:
        metrics.DLQ_RECORDS.labels(reason=dead.reason.value).inc()
    log.info(
        "raw batch normalized",
        key=raw.source.key,
        chunk=raw.source.chunk_index,
        records=result.records_in,
        readings=result.readings_out,
        batches=len(result.batches),
        dead_letters=len(result.dead_letters),
    )


def register_ops_pages(app: faust.App) -> None:
    import prometheus_client

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        body = prometheus_client.generate_latest()
        return web.bytes(body, content_type=prometheus_client.CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        assigned = app.consumer.assignment() if app.consumer else set()
        ready = app.rebalancing is False and app.started
        return web.json(
            {"ready": ready, "detail": f"{len(assigned)} partitions assigned"}, status=200 if ready else 503
        )


async def export_lag_forever(settings: Settings) -> None:
    """Export the group's lag on the raw topic every ``lag_interval_s``, from the broker's committed and
    end offsets (Faust keeps what it committed private). Every worker exports the whole group's lag."""
    exporter = GroupLagExporter(settings.kafka, settings.app_id, [settings.raw_topic], metrics.CONSUMER_LAG)
    started = False
    try:
        while True:
            try:
                if not started:
                    await exporter.start()
                    started = True
                await exporter.export()
            except KafkaError as error:
                log.warning("consumer lag not exported", error=repr(error))
            await asyncio.sleep(settings.lag_interval_s)
    finally:
        if started:
            await exporter.stop()


def cli() -> None:
    settings = Settings()
    configure_logging("normalizer", settings.log_level)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    cli()
