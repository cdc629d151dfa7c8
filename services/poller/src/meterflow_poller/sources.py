"""Several sources in one poller: the sources file (POLLER_SOURCES_FILE, YAML or JSON) and the settings
each source runs with. A source is an S3 bucket (``kind: s3``, the default) or an HTTP API in the source
company's format (``kind: http``, docs/sources.md, "HTTP").

    sources:
      - name: utility-a                # metrics label and log field: a slug, unique in the file
        bucket: utility-a-raw
        prefixes: [meters/]
        tenant: utility-a              # new meters of this source belong to this tenant
        notification_queue_url: https://sqs.eu-central-1.amazonaws.com/123456789012/utility-a-raw
        interval_s: 3600               # the (reconciling) listing
        credentials:                   # optional; default: the poller's own (environment, IAM role)
          access_key_id_env: UTILITY_A_AWS_ACCESS_KEY_ID
          secret_access_key_file: /var/run/secrets/utility-a/secret-access-key
      - name: utility-b
        bucket: utility-b-raw
        s3_endpoint_url: https://s3.example.net
      - name: utility-c                # an HTTP API serving GET /meterdata/measurement
        kind: http
        base_url: https://api.utility-c.example
        muids: [1db7649e-9342-4e04-97c7-f0ebb88ed1f8]
        measurement: energy
        start: 2023-02-01T00:00:00Z    # the first window starts here
        window_s: 86400                # one request window per meter and day
        settle_s: 3600                 # a window is fetched once it ended this long ago
        limit: 3000                    # page size
        rate_per_s: 5                  # requests per second, for the whole source
        headers_env: {X-API-Key: UTILITY_C_API_KEY}

A source's fields are the poller's settings of the same name (docs/sources.md); what a source does not say
comes from the poller's environment. Secrets never sit in the file: credentials name an environment
variable (``*_env``) or a file (``*_file``, e.g. a mounted Kubernetes secret) that holds them, and so do
an http source's headers (``headers_env`` / ``headers_file``: header name -> variable or file).
Each source runs as a poller of its own (its own election and checkpoints, keyed by its bucket; an http
source's "bucket" is ``http:<name>``), so one source with bad credentials or an unreachable endpoint fails
alone while the others go on. An s3 source needs ``bucket``; an http source ``base_url``, ``muids`` and
``start``, and no S3 field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from meterflow_poller.config import HttpSettings, Settings

SOURCE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class SourcesFileError(ValueError):
    """The sources file cannot be read or does not describe valid sources; says what to fix."""


class Credentials(BaseModel):
    """Where a source's S3 key pair is: an environment variable or a file for each half."""

    model_config = ConfigDict(extra="forbid")

    access_key_id_env: str | None = None
    access_key_id_file: Path | None = None
    secret_access_key_env: str | None = None
    secret_access_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_place_each(self) -> Credentials:
        for half in ("access_key_id", "secret_access_key"):
            places = [getattr(self, f"{half}_env"), getattr(self, f"{half}_file")]
            if sum(p is not None for p in places) != 1:
                raise ValueError(f"credentials: give exactly one of {half}_env and {half}_file")
        return self

    def resolve(self) -> dict[str, SecretStr]:
        return {half: SecretStr(self._read(half)) for half in ("aws_access_key_id", "aws_secret_access_key")}

    def _read(self, setting: str) -> str:
        half = setting.removeprefix("aws_")
        return read_secret("credentials", getattr(self, f"{half}_env"), getattr(self, f"{half}_file"))


def read_secret(what: str, variable: str | None, path: Path | None) -> str:
    """The secret in environment variable ``variable`` or else in file ``path``; ``what`` names it in errors."""
    if variable is not None:
        value = os.environ.get(variable)
        if not value:
            raise SourcesFileError(f"{what}: the environment variable {variable} is not set")
        return value
    try:
        return Path(str(path)).read_text().strip()
    except OSError as error:
        raise SourcesFileError(f"{what}: cannot read {path}: {error.strerror}") from None


_S3_FIELDS = ("bucket", "prefixes", "notification_queue_url", "s3_endpoint_url", "sqs_endpoint_url", "s3_region")
_HTTP_FIELDS = (
    "base_url",
    "path",
    "muids",
    "measurement",
    "start",
    "until",
    "window_s",
    "settle_s",
    "limit",
    "timeout_s",
    "max_attempts",
    "rate_per_s",
    "headers_env",
    "headers_file",
)


class SourceSpec(BaseModel):
    """One source of the file; unset fields come from the poller's settings (an http source's from
    HttpSettings' defaults)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SOURCE_NAME_PATTERN)
    kind: Literal["s3", "http"] = "s3"
    bucket: str | None = Field(None, min_length=3)
    prefixes: list[str] | None = None
    tenant: str | None = Field(None, pattern=SOURCE_NAME_PATTERN)
    notification_queue_url: str | None = None
    interval_s: float | None = Field(None, gt=0)
    s3_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = None
    s3_region: str | None = None
    group_id: str | None = None
    credentials: Credentials | None = None
    # kind: http (docs/sources.md, "HTTP")
    base_url: str | None = Field(None, pattern=r"^https?://")
    path: str | None = Field(None, pattern=r"^/")
    muids: list[str] | None = Field(None, min_length=1)
    measurement: str | None = None
    start: AwareDatetime | None = None
    until: AwareDatetime | None = None
    window_s: float | None = Field(None, gt=0)
    settle_s: float | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=1, le=10_000)
    timeout_s: float | None = Field(None, gt=0)
    max_attempts: int | None = Field(None, ge=1)
    rate_per_s: float | None = Field(None, gt=0)
    headers_env: dict[str, str] | None = None
    headers_file: dict[str, Path] | None = None

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> SourceSpec:
        if self.kind == "s3":
            if self.bucket is None:
                raise ValueError("an s3 source needs bucket")
            foreign = [f for f in _HTTP_FIELDS if getattr(self, f) is not None]
            if foreign:
                raise ValueError(f"{', '.join(foreign)}: only for kind: http")
            return self
        missing = [f for f in ("base_url", "muids", "start") if getattr(self, f) is None]
        if missing:
            raise ValueError(f"an http source needs {', '.join(missing)}")
        foreign = [f for f in (*_S3_FIELDS, "credentials") if getattr(self, f) is not None]
        if foreign:
            raise ValueError(f"{', '.join(foreign)}: only for kind: s3")
        both = set(self.headers_env or {}) & set(self.headers_file or {})
        if both:
            raise ValueError(f"headers {sorted(both)}: give each in headers_env or headers_file, not both")
        return self

    def http_settings(self) -> HttpSettings:
        """An http source's settings, its header secrets read from the environment or their files."""
        headers = {
            header: SecretStr(read_secret(f"headers_env {header}", variable, None))
            for header, variable in (self.headers_env or {}).items()
        }
        for header, path in (self.headers_file or {}).items():
            headers[header] = SecretStr(read_secret(f"headers_file {header}", None, path))
        fields = self.model_dump(include=set(HttpSettings.model_fields) - {"headers"}, exclude_none=True)
        return HttpSettings.model_validate({**fields, "headers": headers})

    @property
    def place(self) -> tuple[str, ...]:
        """What the source reads; two sources reading the same place would publish everything twice."""
        if self.kind == "http":
            return ("http", str(self.base_url), *(self.muids or []), str(self.measurement))
        return ("s3", str(self.bucket), *(self.prefixes or [""]))


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        if len(set(names)) < len(names):
            raise ValueError(f"source names must be unique: {names}")
        places = [s.place for s in self.sources]
        if len(set(places)) < len(places):
            raise ValueError(
                "two sources list the same bucket and prefixes (or meters of one API): they would publish "
                "everything twice"
            )
        return self


def load_sources(path: Path) -> list[SourceSpec]:
    try:
        document: Any = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SourcesFileError(f"POLLER_SOURCES_FILE {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SourcesFileError(f"POLLER_SOURCES_FILE {path} is not valid YAML: {error}") from None
    try:
        return SourcesFile.model_validate(document).sources
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False))
        raise SourcesFileError(f"POLLER_SOURCES_FILE {path}: {problems}") from None


def source_settings(base: Settings) -> list[Settings]:
    """The settings of each source: the poller's own for the single source of POLLER_BUCKET when there is
    no sources file, else one per source of the file (its fields over the poller's)."""
    if base.sources_file is None:
        return [base]
    return [_settings_of(base, spec) for spec in load_sources(base.sources_file)]


def _settings_of(base: Settings, spec: SourceSpec) -> Settings:
    if spec.kind == "http":
        return _http_settings_of(base, spec)
    update: dict[str, Any] = spec.model_dump(
        exclude={"credentials", "prefixes", *HttpSettings.model_fields, "headers_env", "headers_file"},
        exclude_none=True,
    )
    update["source_name"] = update.pop("name")
    if spec.prefixes is not None:
        update["prefixes"] = spec.prefixes
    if spec.credentials is not None:
        update.update(spec.credentials.resolve())
    # Validated again as a whole, so a source's prefixes are normalized and its values checked like the env's.
    return Settings.model_validate({**base.model_dump(), **update, "sources_file": None})


def _http_settings_of(base: Settings, spec: SourceSpec) -> Settings:
    """An http source runs with the poller's Kafka and schedule settings; its checkpoints and election are
    keyed by the pseudo-bucket ``http:<name>``, which no S3 bucket name can be."""
    update: dict[str, Any] = {
        "source_name": spec.name,
        "kind": "http",
        "bucket": f"http:{spec.name}",
        "prefixes": [""],
        "notification_queue_url": None,
        "http": spec.http_settings(),
    }
    for field in ("tenant", "interval_s", "group_id"):
        value = getattr(spec, field)
        if value is not None:
            update[field] = value
    return Settings.model_validate({**base.model_dump(), **update, "sources_file": None})
