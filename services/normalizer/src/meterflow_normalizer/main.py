"""The normalizer: a Faust app that turns meter.raw.v1 into typed readings: meter.readings.v2 columns (or v1
batches, see config.py), plus DLQ.

Run it with ``meterflow-normalizer`` (settings from NORMALIZER_* / KAFKA_BOOTSTRAP_SERVERS).
Scale out by starting more workers: they share the raw topic's partitions in one consumer group.

A raw message's offset is committed only once all it produced is on the broker. Two Faust defaults would
break that, so the agent does without them:

* Faust acks an event when its stream generator is finalized, also after the agent body raised, and the
  next commit then covers work that never happened. The agent acks by hand (``stream.noack()``), after
  ``handle_raw`` returned.
* A send returns a future and Faust's producer flush before a commit waits for it without looking at the
  outcome (``stream_publish_on_commit`` only moves the sends to commit time, with the same blind wait).
  ``handle_raw`` awaits every delivery, so a refused send raises before the event is acked.

When a raw message fails (a send the broker refuses, or any exception outside one record: one bad record
is only dead-lettered, see domain.py), the agent retries that message in place with capped backoff rather
than crashing the worker: a crash would restart on the same message anyway, not every deployment restarts
a crashed worker, and retrying heals by itself once the broker accepts again (a topic re-created, a size
limit raised). Meanwhile the partition's offset stays put, the retries are counted in
``meterflow_normalizer_raw_batch_retries_total`` and the consumer lag grows, which is what to alert on.
A worker asked to stop, or whose partitions were reassigned meanwhile, gives the message up unacked: the
next owner of its partition starts from it. For the same reason a stop or a rebalance does not wait for
the message in hand (``stream_wait_empty`` off): it commits what is acked, and the message is handled
again by whoever owns the partition next.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
import structlog
from meterflow_contracts import DLQ, RAW, READINGS, READINGS_V2, RawBatch
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.dead_letters import invalid_message
from meterflow_kit.lag import GroupLagExporter
from meterflow_kit.lag import export_lag_forever as kit_export_lag_forever
from meterflow_kit.lifecycle import freeze_startup_objects
from meterflow_kit.logs import configure_logging
from meterflow_kit.settings import KafkaSettings
from meterflow_kit.topic_check import check_topics
from meterflow_kit.tracing import trace_headers, trace_id_of

from meterflow_normalizer import metrics
from meterflow_normalizer.config import Settings
from meterflow_normalizer.domain import NormalizeResult, decode_raw, normalize
from meterflow_normalizer.fencing import GenerationFence

log = structlog.get_logger("meterflow.normalizer")
# One per worker process (the agent's concurrency is 1): see fencing.py for the rule.
FENCE = GenerationFence()


def broker_credentials(kafka: KafkaSettings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The Kafka settings' SASL/TLS as Faust's credentials (Faust builds its aiokafka clients itself)."""
    if kafka.security_protocol.startswith("SASL_"):
        assert kafka.sasl_password is not None  # KafkaSettings checks SASL is complete
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=kafka.ssl_context() if kafka.security_protocol == "SASL_SSL" else None,
        )
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(kafka.ssl_context())
    return None


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        broker_credentials=broker_credentials(settings.kafka),
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=True,
        web_host=settings.ops_host,
        web_port=settings.ops_port,
        web_in_thread=False,
        # Raw batches can approach 1 MB; one at a time per partition keeps memory flat.
        stream_buffer_maxsize=16,
        producer_max_request_size=4 * 1024 * 1024,
        # zstd by measurement (docs/kafka.md): aiokafka's lz4 runs at level 9, several times zstd's CPU
        # for larger messages (a v2 message of 2,688 readings: 82 KB, 17 KB with zstd).
        producer_compression_type="zstd",
        # Per partition and fetch, in compressed bytes: 1 MiB of zstd raw messages is some 30 MB of JSON once
        # decompressed (4 MiB took the normalizer's peak RSS from 215 to 299 MB with a backlog, bench/README).
        # A larger message still comes whole: the broker returns a first batch beyond the limit (KIP-74).
        consumer_max_fetch_size=1024 * 1024,
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka.session_timeout_s,
        # Only finished work is acked (see the module docstring), so a rebalance or a stop has nothing to
        # wait for; waiting would hang for good on a raw message whose sends the broker refuses.
        stream_wait_empty=False,
    )
    raw_topic = app.topic(settings.raw_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    readings_topic = app.topic(settings.readings_topic, key_serializer="raw", value_serializer="raw")
    outputs = [Output(readings_topic, settings.readings_contract)]
    if settings.also_v1_topic:
        outputs.append(Output(app.topic(settings.also_v1_topic, key_serializer="raw", value_serializer="raw"), 1))
    dlq_topic = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")

    # Concurrency 1: higher agent concurrency can lose messages on a crash (faust-streaming issue 606).
    @app.agent(raw_topic, concurrency=1)
    async def normalize_raw(stream: faust.StreamT[bytes]) -> None:
        manual = cast(faust.Stream[bytes], stream).noack()  # StreamT does not declare noack
        async for event in manual.events():
            if await handle_until_done(app, event, outputs, dlq_topic):
                await manual.ack(event)

    async def export_lag() -> None:
        await export_lag_forever(settings)

    app.task(export_lag)

    async def check_own_topics() -> None:
        readings_spec = READINGS if settings.readings_contract == 1 else READINGS_V2
        topics = {settings.raw_topic: RAW, settings.readings_topic: readings_spec, settings.dlq_topic: DLQ}
        if settings.also_v1_topic:
            topics[settings.also_v1_topic] = READINGS
        await check_topics(settings.kafka, topics)

    app.task(check_own_topics)

    async def freeze_after_start() -> None:
        freeze_startup_objects()

    app.task(freeze_after_start)

    register_ops_pages(app)
    return app


@dataclass(frozen=True, slots=True)
class Output:
    """A readings topic and the contract version (1 or 2) published on it."""

    topic: faust.TopicT
    version: int


async def handle_until_done(
    app: faust.App, event: faust.EventT[bytes], outputs: Sequence[Output], dlq_topic: faust.TopicT
) -> bool:
    """Handle one raw message until it succeeds (True: ack it). False when a rebalance took its partition
    meanwhile, and an error when the worker stops first: either way it stays unacked, its offset uncommitted."""
    key = event.key if isinstance(event.key, bytes) else b""
    message = event.message
    delays = backoff_delays(base=0.5, cap=30.0)
    while True:
        started = time.perf_counter()
        try:
            await handle_raw(event.value, key, outputs, dlq_topic)
        except Exception as error:
            if app.should_stop:
                raise
            where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
            if message.generation_id != app.consumer_generation_id:
                log.warning("raw message failed; given up after a rebalance, its next owner redoes it", **where)
                return False
            metrics.RAW_BATCH_RETRIES.inc()
            log.error("raw message failed; retrying it, its offset stays uncommitted", error=repr(error)[:500], **where)
            await asyncio.sleep(next(delays))
            continue
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        return True


async def handle_raw(value: bytes | None, key: bytes, outputs: Sequence[Output], dlq_topic: faust.TopicT) -> None:
    """Validate, normalize and publish one raw batch; return only once the broker acknowledged every send,
    and raise if it refused one (the caller then retries the whole batch: duplicates are allowed)."""
    try:
        raw = decode_raw(value or b"")
    except ValueError as error:
        await publish_invalid_message(value, key, str(error), dlq_topic)
        return
    if not FENCE.admits(raw.source):
        metrics.STALE_BATCHES.inc()
        log.warning("raw batch of a stale poller leader refused", key=raw.source.key, generation=raw.source.generation)
        return
    result = normalize(raw)
    deliveries: list[Awaitable[Any]] = []
    # Every message derived from the raw batch continues the source object's trace.
    for output in outputs:
        for batch_key, batch_value in serialized_readings(result, output.version):
            headers = trace_headers(raw.source)
            deliveries.append(await output.topic.send(key=batch_key, value=batch_value, headers=headers))
    for dead in result.dead_letters:
        dead_key, dead_value = DLQ.serialize(dead, raw.source.key)
        headers = trace_headers(raw.source)
        deliveries.append(await dlq_topic.send(key=dead_key, value=dead_value, headers=headers))
    await asyncio.gather(*deliveries)
    record_result(result, raw)


def serialized_readings(result: NormalizeResult, version: int) -> list[tuple[bytes, bytes]]:
    """The readings of a normalized raw batch as (key, value) messages of contract ``version``."""
    if version == 1:
        return [READINGS.serialize(batch) for batch in result.batches]
    return [READINGS_V2.serialize(columns) for columns in result.columns]


async def publish_invalid_message(value: bytes | None, key: bytes, error: str, dlq_topic: faust.TopicT) -> None:
    dead = invalid_message("normalizer", RAW, value, error)
    dead_key, dead_value = DLQ.serialize(dead, key)
    await (await dlq_topic.send(key=dead_key, value=dead_value))
    metrics.RAW_BATCHES.inc()
    metrics.DLQ_RECORDS.labels(reason=dead.reason.value).inc()
    log.warning("invalid raw message", reason=dead.reason.value)


def record_result(result: NormalizeResult, raw: RawBatch) -> None:
    metrics.RAW_BATCHES.inc()
    metrics.RECORDS_IN.inc(result.records_in)
    metrics.READINGS_OUT.inc(result.readings_out)
    metrics.BATCHES_OUT.inc(len(result.columns))
    for dead in result.dead_letters:
        metrics.DLQ_RECORDS.labels(reason=dead.reason.value).inc()
    log.info(
        "raw batch normalized",
        key=raw.source.key,
        trace_id=trace_id_of(raw.source),
        chunk=raw.source.chunk_index,
        records=result.records_in,
        readings=result.readings_out,
        batches=len(result.columns),
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
    exporter = GroupLagExporter(
        settings.kafka,
        settings.app_id,
        [settings.raw_topic],
        metrics.CONSUMER_LAG,
        oldest=metrics.CONSUMER_OLDEST_UNPROCESSED,
    )
    await kit_export_lag_forever(exporter, settings.lag_interval_s)


def cli() -> None:
    settings = Settings()
    configure_logging("normalizer", settings.log_level)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    cli()
