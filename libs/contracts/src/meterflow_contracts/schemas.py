"""JSON Schema snapshots of every topic's model, committed under docs/contracts/.

Regenerate after an intended, compatible change: ``uv run python -m meterflow_contracts.schemas``.
A test compares the models with the committed files, so no change slips through unnoticed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from meterflow_contracts.topics import ALL_TOPICS, TopicSpec


def schema_of(spec: TopicSpec[Any]) -> dict[str, object]:
    schema: dict[str, object] = spec.model.model_json_schema(mode="serialization")
    schema["$id"] = f"https://meterflow.dev/contracts/{spec.name}.schema.json"
    schema["description"] = f"Value of topic {spec.name} (key: {spec.key_description}). " + str(
        schema.get("description", "")
    )
    return schema


def render(spec: TopicSpec[Any]) -> str:
    return json.dumps(schema_of(spec), indent=2, sort_keys=True) + "\n"


def snapshot_path(directory: Path, spec: TopicSpec[Any]) -> Path:
    return directory / f"{spec.name}.schema.json"


def write_snapshots(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in ALL_TOPICS:
        path = snapshot_path(directory, spec)
        path.write_text(render(spec))
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/contracts")
    for written in write_snapshots(target):
        sys.stdout.write(f"{written}\n")
