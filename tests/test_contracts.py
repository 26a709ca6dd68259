"""The proto tree: buf lint is clean and the committed stubs match what the protos generate."""

from __future__ import annotations

import filecmp
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUF = REPO / "node_modules" / ".bin" / "buf"


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("proto_generate", REPO / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_buf_lint_is_clean() -> None:
    if not BUF.exists():
        pytest.fail("buf is missing: `make test` installs it with npm ci")
    result = subprocess.run([str(BUF), "lint"], cwd=REPO / "proto", capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_against_itself_runs() -> None:
    result = subprocess.run(
        [str(BUF), "breaking", "proto", "--against", "proto"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_stubs_have_no_drift(tmp_path: Path) -> None:
    generate = _generator().generate  # type: ignore[attr-defined]
    generate(tmp_path)
    fresh, committed = tmp_path / "omnipricex", REPO / "omnipricex"
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    committed_files = {
        p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert fresh_files == committed_files, "run `make proto`: generated files differ"
    drifted = [str(p) for p in sorted(fresh_files) if not filecmp.cmp(fresh / p, committed / p, shallow=False)]
    assert not drifted, f"run `make proto`: these stubs are stale: {drifted}"
    shutil.rmtree(tmp_path / "omnipricex")
