"""Estimate of each image's size without Docker: the installed size of each workspace member's locked
dependency closure (``uv export --frozen --no-dev --package``), measured from the files of those
distributions in this machine's venv, plus the workspace packages' own sources. An estimate: the
image adds the base image (python slim) and the .pyc files that UV_COMPILE_BYTECODE writes for every
module (the venv here has them only for what was imported), and platform markers may differ.

    uv run --frozen python deploy/image_sizes.py
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = {
    "poller": "meterflow-poller",
    "normalizer": "meterflow-normalizer",
    "writer": "meterflow-writer",
    "api": "meterflow-query-api",
    "cli (migrations)": "meterflow-cli",
}


def closure(package: str) -> tuple[list[Path], list[str]]:
    """What ``uv sync --package`` installs for ``package``: the workspace members (their folders) and the
    other distributions (locked names)."""
    exported = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-hashes", "--package", package],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    members: list[Path] = []
    names: list[str] = []
    for line in exported.splitlines():
        if line.startswith("-e "):
            members.append(REPO / line[3:].strip())
        elif line and not line.startswith((" ", "#")):
            names.append(line.split(";")[0].strip().split("==")[0])
    return members, names


def member_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def installed_bytes(name: str) -> int:
    """Bytes of a distribution's installed files without bytecode; 0 when it is not installed here (a
    dependency of another platform, such as colorama on Windows)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return 0
    paths = (Path(str(dist.locate_file(file))) for file in dist.files or [])
    return sum(path.stat().st_size for path in paths if path.suffix != ".pyc" and path.is_file())


def main() -> int:
    out = sys.stdout
    out.write(f"{'image':<18} {'packages':>8} {'installed MB':>13}  largest (MB)\n")
    for image, package in IMAGES.items():
        members, names = closure(package)
        sizes = {name: installed_bytes(name) for name in names} | {m.name: member_bytes(m) for m in members}
        largest = ", ".join(f"{n} {b / 1e6:.0f}" for n, b in sorted(sizes.items(), key=lambda kv: -kv[1])[:4])
        out.write(f"{image:<18} {len(sizes):>8} {sum(sizes.values()) / 1e6:>13.1f}  {largest}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
