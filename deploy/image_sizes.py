"""The size of each image's own layer, without Docker: runs the Dockerfile's build step (``uv sync --frozen
--no-dev --no-editable --package <member>`` with bytecode compiled, into a fresh environment) for each image
on a copy of the committed workspace, and measures the environment it makes, which is what the runtime
stage copies. An estimate of the image all the same: the base image (python slim) comes on top, and this
machine's Python and platform stand in for the image's.

    uv run --frozen python deploy/image_sizes.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES = {
    "meterflow-poller": "meterflow-poller",
    "meterflow-normalizer": "meterflow-normalizer",
    "meterflow-writer": "meterflow-writer",
    "meterflow-query-api": "meterflow-query-api",
    "meterflow-cli": "meterflow-cli",
}
# What the Dockerfile copies into its build stage.
SOURCES = ["pyproject.toml", "uv.lock", "libs", "services", "tools"]


def committed_workspace(into: Path) -> None:
    """The committed sources the Dockerfile copies (git archive of HEAD), unpacked into ``into``."""
    archive = into / "src.tar"
    subprocess.run(["git", "archive", "-o", str(archive), "HEAD", *SOURCES], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")


def environment_of(package: str, workspace: Path, venv: Path) -> tuple[int, int]:
    """Build ``package``'s environment as the Dockerfile does; returns (bytes, distributions)."""
    env = {
        **os.environ,
        "UV_LINK_MODE": "copy",
        "UV_COMPILE_BYTECODE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PROJECT_ENVIRONMENT": str(venv),
    }
    env.pop("VIRTUAL_ENV", None)
    command = ["uv", "sync", "--frozen", "--no-dev", "--no-editable", "--quiet", "--package", package]
    subprocess.run(command, cwd=workspace, env=env, check=True)
    size = sum(p.lstat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    dists = len(list(venv.glob("lib/python*/site-packages/*.dist-info")))
    return size, dists


def main() -> int:
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="meterflow-image-sizes-") as scratch:
        root = Path(scratch)
        committed_workspace(root)
        out.write(f"{'image':<22} {'distributions':>13} {'/app/.venv MB':>14}\n")
        for image, package in IMAGES.items():
            size, dists = environment_of(package, root / "src", root / f"venv-{image}")
            out.write(f"{image:<22} {dists:>13} {size / 1e6:>14.1f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
