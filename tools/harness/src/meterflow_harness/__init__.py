"""Meterflow's dev harness: what tests/ and bench/ both need to run the real thing.

One module per kind of helper: ``names`` (unique ids), ``ports`` (free ports), ``waiting`` (polling until a
condition holds), ``metrics`` (Prometheus text), ``processes`` (a service run as its console script),
``pipeline`` (the services of one test or run on its own topics), ``servers`` (Kafka, PostgreSQL, S3 and
PGlite endpoints, started with the project's scripts), ``postgres`` (scratch databases), ``kafka``
(producing, reading and deleting topics, consumer-group lag) and ``messages`` (synthetic reading batches).
Dev-only: no service imports it.
"""
