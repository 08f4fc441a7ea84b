"""End-to-end tests run the installed ``decayrec`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def decayrec_command() -> list[str]:
    """The console script installed with the package (falls back to ``python -m``)."""
    script = shutil.which("decayrec", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "decayrec"]


@pytest.fixture
def run_cli(decayrec_command: list[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run ``decayrec ARGS`` in ``tmp_path``; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
        return subprocess.run(
            [*decayrec_command, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    return run
