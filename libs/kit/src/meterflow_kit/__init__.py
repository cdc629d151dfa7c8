"""Runtime kit shared by the Meterflow services: logging, ops HTTP endpoint, lifecycle, backoff, errors,
settings, and the Kafka plumbing every service consumes and dead-letters with.

Only plumbing lives here (no domain logic): it keeps each service's wiring to a few lines. It uses
meterflow_contracts for the topics' codecs (the dead-letter producer) and nothing else of the domain.

- ``errors``: MeterflowError, the root of every package's errors, and its ``retriable`` flag
- ``settings``: KafkaSettings (embedded in every service's settings) and the ServiceSettings base
- ``consumer``: GroupConsumer, a group member that commits after the caller's durable work
- ``dead_letters``: DeadLetterProducer and the "invalid message" dead letter
- ``lag``: GroupLagExporter, a group's lag from committed and end offsets (and its time lag)
- ``tracing``: the trace id of a source object version and its ``traceparent`` header
- ``backoff``, ``lifecycle``, ``logs``, ``ops``: retries, signals, logging, the ops endpoint
"""
