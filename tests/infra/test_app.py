"""`python app.py` as a user runs it: real Lambda bundle, no credentials, no network; then the
gates on its output: cdk-nag (inside synthesis), checkov's built-in checks (run for real)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from synth_support import run_checkov

from infra import waivers
from infra.bundling import OUR_PACKAGES

pytestmark = pytest.mark.xdist_group("infra-app")


def bundle_dir(app_out: Path) -> Path:
    (bundle,) = [p for p in app_out.glob("asset.*") if (p / "detectors").is_dir()]
    return bundle


def test_app_synthesizes_one_default_stage_with_env_agnostic_names(app_out: Path) -> None:
    templates = list(app_out.glob("assembly-*/*.template.json"))
    assert [t.parent.name for t in templates] == ["assembly-Bucketwatch"]
    template = json.loads(templates[0].read_text())
    names = [r["Properties"]["BucketName"] for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    # Resolved at deploy time from the account and region deployed to.
    assert all(json.dumps(n).count("AWS::AccountId") and json.dumps(n).count("AWS::Region") for n in names)


def test_cdk_nag_and_policy_plugins_report_nothing_unacknowledged(app_out: Path) -> None:
    report = json.loads((app_out / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_bundle_holds_our_packages_and_pure_python_yaml_and_sqlglot_only(app_out: Path) -> None:
    bundle = bundle_dir(app_out)
    assert sorted(p.name for p in bundle.iterdir()) == sorted([*OUR_PACKAGES, "yaml", "sqlglot"])
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in {".so", ".pyc", ".pyd"}]
    assert not [p for p in files if "__pycache__" in p.parts]
    assert (bundle / "detectors" / "schema.py").is_file() and (bundle / "policies" / "model.py").is_file()
    assert sum(p.stat().st_size for p in files) < 20 * 1024 * 1024
    # PyYAML loads from the bundle alone (no site-packages), with its pure-Python loader.
    probe = ("import yaml, sqlglot; assert not yaml.__with_libyaml__; print(yaml.safe_load('a: [1, 2]'), "
             "sqlglot.transpile('SELECT IFF(a, 1, 2)', read='snowflake', write='trino'))")
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(bundle)!r}]; {probe}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'a': [1, 2]} ['SELECT IF(a, 1, 2)']"


# What the Lambda Python runtime provides (boto3 and its dependencies) plus the pandas layer (pyarrow, numpy).
RUNTIME_AND_LAYER = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "urllib3", "six.py", "pyarrow", "numpy", "numpy.libs")


def test_handlers_import_from_the_bundle_plus_runtime_and_layer_only(app_out: Path, tmp_path: Path) -> None:
    """No site-packages: just the bundle, and what the runtime and the layer provide. An import of
    aws_cdk, checkov, duckdb or any other package missing from the bundle fails here."""
    site = Path(subprocess.run([sys.executable, "-c", "import boto3, pathlib; print(pathlib.Path(boto3.__file__).parent.parent)"],
                               capture_output=True, text=True, check=True).stdout.strip())
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_AND_LAYER:
        (runtime / name).symlink_to(site / name)
    probe = (
        "import sys; sys.path[:0] = sys.argv[1:3]; "
        "import detectors.handler, policies.posture_handler, detectors.scheduled.lambda_handler, detectors.notify.webhook; "
        "assert all(callable(m.handler) for m in (detectors.handler, policies.posture_handler, "
        "detectors.scheduled.lambda_handler, detectors.notify.webhook)); "
        "print(sorted(m for m in ('aws_cdk', 'checkov', 'duckdb', 'jsii') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(bundle_dir(app_out)), str(runtime)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def test_checkov_builtin_checks_pass_with_only_the_written_waivers(app_out: Path) -> None:
    checkov = run_checkov(app_out)
    assert checkov.failed == []
    assert checkov.returncode == 0
    assert checkov.passed > 50
    assert checkov.skipped == [  # detector, posture scanner, scheduled analysis: no VPC, SSE-SQS dead letters
        ("CKV_AWS_117", "AWS::Lambda::Function"),
        ("CKV_AWS_117", "AWS::Lambda::Function"),
        ("CKV_AWS_117", "AWS::Lambda::Function"),
        ("CKV_AWS_18", "AWS::S3::Bucket"),
        ("CKV_AWS_27", "AWS::SQS::Queue"),
        ("CKV_AWS_27", "AWS::SQS::Queue"),
        ("CKV_AWS_27", "AWS::SQS::Queue"),
    ]
    reasons = {w.reason for w in vars(waivers).values() if isinstance(w, waivers.Waiver)}
    assert set(checkov.skip_comments) <= reasons
