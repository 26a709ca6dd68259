"""Generate the Python stubs of every proto under proto/ into the `omnipricex` package.

Run `python proto/generate.py` after editing a .proto; tests regenerate into a temporary
folder and fail when the committed stubs drift from the contracts.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
PACKAGE = "omnipricex"


def _plugin(name: str) -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    path = shutil.which(name, path=str(scripts)) or shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: install the dev requirements (mypy-protobuf)")
    return path


def generate(out_root: Path) -> list[Path]:
    """Write stubs for every proto into out_root/omnipricex and return the files written."""
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out_root.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out=quiet:{out_root}",
        f"--mypy_grpc_out=quiet:{out_root}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    package_root = out_root / PACKAGE
    for folder in [package_root, *(p for p in package_root.rglob("*") if p.is_dir())]:
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text("")
    (package_root / "py.typed").touch()
    return sorted(p for p in package_root.rglob("*") if p.is_file())


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT
    generated = target / PACKAGE
    # Generate aside and swap in, so a proto that fails to compile leaves the committed stubs intact.
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        files = generate(Path(scratch))
        if generated.exists():
            shutil.rmtree(generated)
        (Path(scratch) / PACKAGE).rename(generated)
    print(f"wrote {len(files)} files under {generated}")


if __name__ == "__main__":
    main()
