"""The normalizer: a Faust app that turns meter.raw.v1 into typed meter.readings.v1 batches (+ DLQ).

Run it with ``meterflow-normalizer`` (settings from NORMALIZER_* / KAFKA_BOOTSTRAP_SERVERS).
Scale out by starting more workers: they share the raw topic's partitions in one consumer group.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

import faust
import orjson
import structlog
from meterflow_contracts import DeadLetter, DlqReason, RawBatch
from meterflow_kit.logs import configure_logging
from pydantic import ValidationError

from meterflow_normalizer import metrics
from meterflow_normalizer.config import Settings
from meterflow_normalizer.domain import NormalizeResult, normalize

log = structlog.get_logger("meterflow.normalizer")


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
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
        broker_session_timeout=settings.session_timeout_s,
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

    register_ops_pages(app)
    return app


async def handle_raw(value: Any, key: bytes, readings_topic: faust.TopicT, dlq_topic: faust.TopicT) -> None:
    """Validate, normalize and publish one raw batch. Sends attach to the event, so Faust commits the
    raw offset only after they are acknowledged (the producer is flushed before every commit)."""
    metrics.RAW_BATCHES.inc()
    try:
        # orjson builds the record dicts about twice as fast as pydantic's own JSON parser.
        raw = RawBatch.model_validate(orjson.loads(value))
    except (orjson.JSONDecodeError, ValidationError) as error:
        await publish_invalid_message(value, key, str(error), dlq_topic)
        return
    result = normalize(raw)
    for batch in result.batches:
        await readings_topic.send(key=str(batch.muid).encode(), value=batch.model_dump_json().encode())
    for dead in result.dead_letters:
        await dlq_topic.send(key=raw.source.key.encode(), value=dead.model_dump_json().encode())
    record_result(result, raw)


async def publish_invalid_message(value: Any, key: bytes, error: str, dlq_topic: faust.TopicT) -> None:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
    dead = DeadLetter(
        reason=DlqReason.INVALID_MESSAGE,
        message=f"message on the raw topic is not a meter.raw.v1 batch: {error[:2000]}",
        stage="normalizer",
        record=text[:10_000],
        failed_at=datetime.now(UTC),
    )
    await dlq_topic.send(key=key, value=dead.model_dump_json().encode())
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
        update_lag(app)
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


def update_lag(app: faust.App) -> None:
    """Export highwater - committed offset per assigned partition."""
    consumer = app.consumer
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        committed = cast(Any, consumer)._committed_offset.get(tp)  # faust has no public accessor for it
        if highwater is not None:
            lag = max(0, highwater - (committed if committed is not None else 0))
            metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)


def cli() -> None:
    settings = Settings()
    configure_logging("normalizer", settings.log_level)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    cli()
