"""The Lambda code asset: our packages plus only what the Lambda Python runtime lacks.

Built in Python before synthesis (no Docker): the runtime already ships boto3; pyarrow is too
big for a code zip and comes from the AWS SDK for pandas managed layer (see docs/infra.md);
PyYAML is pure Python and copied without its compiled extension, so it loads on any runtime
version and architecture (PyYAML falls back to its pure-Python loader).

Unit tests synthesize many stacks; `STUB_CONTEXT_KEY` switches to a tiny placeholder asset so
they stay fast. The real bundle is what `app.py` deploys and what the bundle tests inspect.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from detectors.common.organization import BUNDLED_FILE_NAME
from infra.config import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
# Our code: handlers live in detectors/ and policies/; bucketwatch/ holds shared glue.
OUR_PACKAGES = ("detectors", "policies", "bucketwatch")
# Third-party pure-Python packages the runtime lacks (import name): PyYAML for specs and config,
# sqlglot for the scheduled Lambda's Snowflake -> Athena SQL.
VENDORED_PACKAGES = ("yaml", "sqlglot")
SKIPPED_SUFFIXES = (".pyc", ".so", ".pyd", ".dylib")
SKIPPED_DIRS = ("__pycache__", "tests", "demo")

STUB_CONTEXT_KEY = "bucketwatch:stubLambdaCode"
STUB_DIR = Path(__file__).resolve().parent / "lambda_stub"
DEFAULT_BUILD_ROOT = REPO_ROOT / "build" / "lambda"  # build/ is git-ignored
KEEP_BUNDLES = 3
KEEP_STUBS = 50  # a few KB each; parallel test workers synthesize several organizations


def package_dir(import_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"cannot bundle {import_name!r}: it is not an installed package")
    return Path(next(iter(spec.submodule_search_locations)))


def _bundle_files() -> list[tuple[Path, str]]:
    """(source file, path inside the bundle), sorted so the bundle is reproducible."""
    files: list[tuple[Path, str]] = []
    for name in (*OUR_PACKAGES, *VENDORED_PACKAGES):
        root = package_dir(name)
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or path.suffix in SKIPPED_SUFFIXES:
                continue
            if any(part in SKIPPED_DIRS for part in relative.parts[:-1]):
                continue
            files.append((path, f"{name}/{relative.as_posix()}"))
    return files


BUNDLED_CONFIG_NAME = "bucketwatch.yml"  # the config file's name inside the bundle (Lambda cwd)
STUB_BUILD_ROOT = REPO_ROOT / "build" / "lambda-stub"  # the stub with generated files: tests only


def build_bundle(build_root: Path = DEFAULT_BUILD_ROOT, config_file: Path | None = None,
                 generated: dict[str, str] | None = None) -> Path:
    """Write the bundle into `build_root/<content hash>/` (reused when already built); return it.

    `config_file`, when given, is bundled as `bucketwatch.yml` at the top (the functions' working
    directory), where BUCKETWATCH_CONFIG points. `generated` maps more top-level file names to
    their text (the organization's settings, BUNDLED_FILE_NAME).
    """
    files = _bundle_files()
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"configFile {config_file} does not exist; give a path relative to the app directory")
        files.append((config_file, BUNDLED_CONFIG_NAME))
    return _materialize(build_root, files, generated or {})


def _materialize(build_root: Path, files: list[tuple[Path, str]], generated: dict[str, str],
                 keep: int = KEEP_BUNDLES) -> Path:
    """`files` (source, path inside) and `generated` (path inside, text) in `build_root/<content hash>/`."""
    contents = [(target, source.read_bytes()) for source, target in files]
    contents += [(target, text.encode()) for target, text in sorted(generated.items())]
    digest = hashlib.sha256()
    for target, data in contents:
        digest.update(target.encode())
        digest.update(data)
    out = build_root / digest.hexdigest()[:16]
    if out.is_dir():
        return out
    # A private staging dir, renamed into place: parallel synths never see a half-built bundle.
    staging = build_root / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for target, data in contents:
        dest = staging / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    try:
        staging.rename(out)
    except OSError:
        if not out.is_dir():
            raise
        shutil.rmtree(staging, ignore_errors=True)  # another process finished the same bundle first
    _prune(build_root, keep=out, newest=keep)
    return out


def _prune(build_root: Path, keep: Path, newest: int = KEEP_BUNDLES) -> None:
    """Drop all but the newest few bundles, so the build folder does not grow with every edit."""
    bundles = sorted((p for p in build_root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in bundles[newest:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def lambda_code(scope: Construct, config_file: str | None = None, organization_json: str | None = None) -> lambda_.Code:
    """The code asset for every function: the real bundle, or the stub when the context asks; with
    the organization's settings as BUNDLED_FILE_NAME when given (they do not fit in the functions'
    environment, see detectors/common/organization.py)."""
    generated = {BUNDLED_FILE_NAME: organization_json} if organization_json else {}
    if str(scope.node.try_get_context(STUB_CONTEXT_KEY)).lower() == "true":
        if not generated:
            return lambda_.Code.from_asset(str(STUB_DIR))
        stub = [(path, path.name) for path in sorted(STUB_DIR.iterdir()) if path.is_file()]
        return lambda_.Code.from_asset(str(_materialize(STUB_BUILD_ROOT, stub, generated, keep=KEEP_STUBS)))
    bundle = build_bundle(config_file=Path(config_file) if config_file else None, generated=generated)
    return lambda_.Code.from_asset(str(bundle))
