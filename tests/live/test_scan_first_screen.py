"""Issue 15: in a 43-bucket account, the world-readable bucket is on the first screen of
`bucketwatch scan`'s text report (it used to be at line 1,630 of 1,673)."""

from __future__ import annotations

import boto3

from bucketwatch.cli import main

SCREEN = 24  # lines of a classic terminal
PUBLIC = "zz-world-readable"  # last by name, as it was last in the old report


def test_the_world_readable_bucket_is_on_the_first_screen(aws_endpoint, capsys) -> None:
    s3 = boto3.client("s3")
    for index in range(42):
        s3.create_bucket(Bucket=f"app-{index:02d}")
        s3.put_bucket_versioning(Bucket=f"app-{index:02d}", VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=PUBLIC)
    s3.put_bucket_acl(Bucket=PUBLIC, GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    assert main(["scan"]) == 1
    lines = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(lines) if PUBLIC in line)
    assert first < SCREEN, "\n".join(lines[:SCREEN])
    # Its PublicRead FAIL (High, one bucket) comes before the High settings all 43 buckets lack.
    blocks = [line.split()[1].rstrip(":") for line in lines if line.startswith("  HIGH ")]
    assert blocks.index("BW.S3.PublicRead") < blocks.index("BW.S3.Encryption")
    public_read = next(i for i, line in enumerate(lines) if line.startswith("  HIGH     BW.S3.PublicRead:"))
    assert lines[public_read + 2].startswith(f"    - arn:aws:s3:::{PUBLIC} ") and public_read < 2 * SCREEN
    assert not any(" PASS " in line for line in lines[3:-2])  # passes are counted, not listed
