"""Several S3 sources in one poller: the sources file (POLLER_SOURCES_FILE, YAML or JSON) and the settings
each source runs with.

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

A source's fields are the poller's settings of the same name (docs/sources.md); what a source does not say
comes from the poller's environment. Secrets never sit in the file: credentials name an environment
variable (``*_env``) or a file (``*_file``, e.g. a mounted Kubernetes secret) that holds them.
Each source runs as a poller of its own (its own election and checkpoints, keyed by its bucket), so one
source with bad credentials or an unreachable endpoint fails alone while the others go on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from meterflow_poller.config import Settings

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
        variable, path = getattr(self, f"{half}_env"), getattr(self, f"{half}_file")
        if variable is not None:
            value = os.environ.get(variable)
            if not value:
                raise SourcesFileError(f"credentials: the environment variable {variable} is not set")
            return value
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise SourcesFileError(f"credentials: cannot read {path}: {error.strerror}") from None


class SourceSpec(BaseModel):
    """One source of the file; unset fields come from the poller's settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SOURCE_NAME_PATTERN)
    bucket: str = Field(min_length=3)
    prefixes: list[str] | None = None
    tenant: str | None = Field(None, pattern=SOURCE_NAME_PATTERN)
    notification_queue_url: str | None = None
    interval_s: float | None = Field(None, gt=0)
    s3_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = None
    s3_region: str | None = None
    group_id: str | None = None
    credentials: Credentials | None = None


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        if len(set(names)) < len(names):
            raise ValueError(f"source names must be unique: {names}")
        places = [(s.bucket, tuple(s.prefixes or [""])) for s in self.sources]
        if len(set(places)) < len(places):
            raise ValueError("two sources list the same bucket and prefixes: they would publish every object twice")
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
    update: dict[str, Any] = spec.model_dump(exclude={"credentials", "prefixes"}, exclude_none=True)
    update["source_name"] = update.pop("name")
    if spec.prefixes is not None:
        update["prefixes"] = spec.prefixes
    if spec.credentials is not None:
        update.update(spec.credentials.resolve())
    # Validated again as a whole, so a source's prefixes are normalized and its values checked like the env's.
    return Settings.model_validate({**base.model_dump(), **update, "sources_file": None})
