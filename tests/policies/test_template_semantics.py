"""What a template decides, the template source decides (issue 13's nine points), each on a
small template written for the test: a bucket policy on a bucket outside the templates, public
canned ACLs S3 would reject, CloudFront origin access identities, every branch of Fn::If, a
resource's own Condition, partial evaluation of bucket policies, Fn::Transform in Properties,
Object Lock and versioning, and reasons that name what deploy time decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bucketwatch.cli import main
from policies.config import PostureSettings
from policies.runner import evaluate
from policies.sources.cfn_load import parse_text
from policies.sources.template import collect_template_subjects

POLICY_ONLY = ("BW.S3.PrincipalRestrictions", "BW.S3.ActionRestrictions", "BW.S3.SecureAccess",
               "BW.S3.PolicyAllowWithNotPrincipal", "BW.S3.PolicyConfusedDeputy", "BW.S3.CrossAccountPrincipals")


def verdicts(policies, tmp_path: Path, text: str, settings: PostureSettings | None = None,
             name: str = "t.yaml") -> dict[tuple[str, str], tuple[str, str]]:
    path = tmp_path / name
    path.write_text(text)
    subjects = collect_template_subjects([path], settings)
    return {(f.ref.logical_id, f.policy.id): (f.status, f.reason) for f in evaluate(policies, subjects, settings)}


# 1. A BucketPolicy on a bucket not in the template --------------------------------------------

EXTERNAL_POLICY = """
Resources:
  OpenPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: existing-reports
      PolicyDocument:
        Statement:
          - {Effect: Allow, Principal: "*", Action: "s3:*", Resource: "arn:aws:s3:::existing-reports/*"}
          - {Effect: Allow, NotPrincipal: {AWS: "arn:aws:iam::111122223333:root"}, Action: s3:GetObject,
             Resource: "arn:aws:s3:::existing-reports/*"}
          - {Effect: Allow, Principal: {Service: logging.s3.amazonaws.com}, Action: s3:PutObject,
             Resource: "arn:aws:s3:::existing-reports/*"}
"""


def test_policy_on_a_bucket_outside_the_template_is_judged_naming_the_bucket(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, EXTERNAL_POLICY)
    assert {policy for (_, policy) in found} == set(POLICY_ONLY)  # nothing about versioning, logging, ...
    for policy in POLICY_ONLY[:5]:
        status, reason = found[("OpenPolicy", policy)]
        assert status == "FAIL", policy
        assert reason.startswith("bucket policy of bucket existing-reports, which is not in the checked templates: ")
    assert main(["check", str(tmp_path / "t.yaml"), "--format", "json"]) == 1  # was "0 results ... passed"


def test_policy_on_a_parameter_named_bucket(policies, tmp_path: Path) -> None:
    text = """
Parameters:
  Target: {Type: String}
Resources:
  Named:                      # a literal name: the parameter may name it
    Type: AWS::S3::Bucket
    Properties: {BucketName: team-data}
  Generated:                  # a generated (random) name: no parameter can name it in advance
    Type: AWS::S3::Bucket
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Target
      PolicyDocument:
        Statement: [{Effect: Allow, Principal: "*", Action: s3:GetObject, Resource: "*"}]
"""
    found = verdicts(policies, tmp_path, text)
    status, reason = found[("Policy", "BW.S3.PrincipalRestrictions")]
    assert status == "FAIL" and "bucket only known at deploy time (parameter Target is given at deploy time)" in reason
    status, reason = found[("Named", "BW.S3.PrincipalRestrictions")]
    assert status == "UNKNOWN" and "may be this one" in reason
    assert found[("Generated", "BW.S3.PrincipalRestrictions")][0] == "PASS"  # it has no bucket policy


def test_policy_and_bucket_named_by_the_same_parameter_belong_together(policies, tmp_path: Path) -> None:
    text = """
Parameters:
  Name: {Type: String}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties: {BucketName: !Ref Name}
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Name
      PolicyDocument:
        Statement: [{Effect: Deny, Principal: "*", Action: "s3:*", Resource: "*",
                     Condition: {Bool: {aws:SecureTransport: false}}}]
"""
    found = verdicts(policies, tmp_path, text)
    assert found[("Bucket", "BW.S3.SecureAccess")][0] == "PASS"
    assert not [key for key in found if key[0] == "Policy"]  # not an outside bucket's policy


# 2. AccessControl PublicRead without turning Block Public Access off ---------------------------

@pytest.mark.parametrize(("properties", "expected"), [
    ("AccessControl: PublicRead", ["Block Public Access is not turned off (BlockPublicAcls, the S3 default since "
                                   "April 2023)", "object ownership is BucketOwnerEnforced"]),
    ("AccessControl: PublicRead\n      OwnershipControls: {Rules: [{ObjectOwnership: ObjectWriter}]}\n"
     "      PublicAccessBlockConfiguration: {BlockPublicAcls: true, IgnorePublicAcls: true}",
     ["Block Public Access is not turned off (BlockPublicAcls)"]),
])
def test_public_canned_acl_with_block_public_access_on_fails_saying_both(policies, tmp_path: Path, properties: str,
                                                                       expected: list[str]) -> None:
    found = verdicts(policies, tmp_path, f"Resources:\n  Site:\n    Type: AWS::S3::Bucket\n    Properties:\n"
                                         f"      {properties}\n")
    status, reason = found[("Site", "BW.S3.PublicRead")]
    assert status == "FAIL" and reason.startswith("ACL grants READ to AllUsers: AccessControl PublicRead asks for "
                                                  "public access, but ")
    assert all(part in reason for part in expected) and reason.endswith("so S3 rejects the bucket at create time")
    assert found[("Site", "BW.S3.PublicWrite")][0] == "PASS"


def test_public_canned_acl_with_block_public_access_off_is_plainly_public(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, """
Resources:
  Site:
    Type: AWS::S3::Bucket
    Properties:
      AccessControl: PublicReadWrite
      OwnershipControls: {Rules: [{ObjectOwnership: ObjectWriter}]}
      PublicAccessBlockConfiguration: {BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false,
                                       RestrictPublicBuckets: false}
""")
    assert found[("Site", "BW.S3.PublicWrite")] == ("FAIL", "ACL grants WRITE to AllUsers")


# 3. CloudFront origin access identities ------------------------------------------------------

OAI = """
Resources:
  Identity:
    Type: AWS::CloudFront::CloudFrontOriginAccessIdentity
    Properties: {CloudFrontOriginAccessIdentityConfig: {Comment: site}}
  Site:
    Type: AWS::S3::Bucket
  SitePolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Site
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity ${Identity}"}
            Action: s3:GetObject
            Resource: !Sub "${Site.Arn}/*"
  Legacy:
    Type: AWS::S3::Bucket
  LegacyPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Legacy
      PolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {AWS: "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHAPOMQZL"}
            Action: s3:GetObject
            Resource: !Sub "${Legacy.Arn}/*"
"""


def test_cloudfront_origin_access_identity_is_not_an_account(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, OAI)
    assert found[("Site", "BW.S3.CrossAccountPrincipals")][0] == "PASS"  # the stack's own identity
    status, reason = found[("Legacy", "BW.S3.CrossAccountPrincipals")]
    assert status == "UNKNOWN" and "E2QWRUHAPOMQZL is not an account" in reason and "cloudfront" not in reason.split(
        "identity")[0]
    allowed = PostureSettings(cross_account_allowlist=["arn:aws:iam::cloudfront:user/CloudFront Origin Access "
                                                       "Identity E2QWRUHAPOMQZL"])
    assert verdicts(policies, tmp_path, OAI, allowed)[("Legacy", "BW.S3.CrossAccountPrincipals")][0] == "PASS"


# 4. Fn::If: every branch ---------------------------------------------------------------------

BRANCHES = """
Parameters:
  Env: {Type: String}
Conditions:
  UseKms: !Equals [!Ref Env, prod]
Resources:
  Data:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: !If [UseKms, {SSEAlgorithm: "aws:kms"}, {SSEAlgorithm: AES256}]
      VersioningConfiguration: !If [UseKms, {Status: Suspended}, !Ref AWS::NoValue]
      PublicAccessBlockConfiguration: !If
        - UseKms
        - {BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true}
        - !Ref AWS::NoValue
"""


def test_fn_if_evaluates_every_branch(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, BRANCHES)
    assert found[("Data", "BW.S3.Encryption")] == ("PASS", "")  # SSE in both branches
    assert found[("Data", "BW.S3.PublicAccessBlockAll")][0] == "PASS"  # explicit, or S3's default
    status, reason = found[("Data", "BW.S3.Versioning")]  # Suspended, or never enabled
    assert status == "FAIL" and reason == "versioning is Suspended; versioning is not enabled"
    status, reason = found[("Data", "BW.S3.EncryptionKMS")]
    assert status == "UNKNOWN" and reason == (
        "depends on condition UseKms (parameter Env is given at deploy time): PASS when UseKms is true; "
        "FAIL (default encryption is AES256, not SSE-KMS) when UseKms is false")


def test_a_region_condition_is_not_decided_by_a_token(policies, tmp_path: Path) -> None:
    """!Equals [!Ref AWS::Region, us-east-1] in an environment-agnostic template was decided
    false ("${Region}" is not "us-east-1"): a guess."""
    found = verdicts(policies, tmp_path, """
Conditions:
  InVirginia: !Equals [!Ref AWS::Region, us-east-1]
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: !If [InVirginia, Enabled, Suspended]}
""")
    status, reason = found[("B", "BW.S3.Versioning")]
    assert status == "UNKNOWN" and reason.startswith(
        "depends on condition InVirginia (AWS::Region is only known at deploy time): PASS when InVirginia is true")


def test_conditions_sharing_a_choice_stay_consistent(policies, tmp_path: Path) -> None:
    """IsProd and IsDev cannot both hold: the world where both would is never built."""
    found = verdicts(policies, tmp_path, """
Parameters:
  Env: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Equals [!Ref Env, dev]
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration:
        Status: !If [IsProd, Enabled, !If [IsDev, Suspended, Enabled]]
      LoggingConfiguration: !If [IsDev, !Ref AWS::NoValue, {DestinationBucketName: logs-bucket}]
""")
    status, reason = found[("B", "BW.S3.Versioning")]
    assert status == "UNKNOWN" and "FAIL (versioning is Suspended) when IsDev is true" in reason
    (subject,) = collect_template_subjects([tmp_path / "t.yaml"])
    worlds = [(facts.get("condition IsProd"), facts.get("condition IsDev")) for facts, _ in subject.worlds()]
    assert sorted(worlds) == [("false", "false"), ("false", "true"), ("true", "false")]  # never both true


def test_allowed_values_are_every_way_a_parameter_can_go(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, """
Parameters:
  Status: {Type: String, AllowedValues: [Enabled]}
  Days: {Type: Number, AllowedValues: [90, 180]}
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: !Ref Status}
      LifecycleConfiguration: {Rules: [{Status: Enabled, ExpirationInDays: !Ref Days}]}
""")
    assert found[("B", "BW.S3.Versioning")][0] == "PASS"
    assert found[("B", "BW.S3.LifecycleConfiguration")][0] == "PASS"


# 5. Inside a resource with a Condition, that condition holds ---------------------------------

def test_a_resources_own_condition_holds_inside_it(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, """
Parameters:
  Env: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  ProdOnly:
    Type: AWS::S3::Bucket
    Condition: IsProd
    Properties:
      VersioningConfiguration: {Status: !If [IsProd, Enabled, Suspended]}
      BucketEncryption: !If
        - NotProd
        - {ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}}]}
        - {ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: "aws:kms"}}]}
  ProdTrail:
    Type: AWS::CloudTrail::Trail
    Condition: IsProd
    Properties:
      S3BucketName: trail-logs
      IsLogging: true
      IsMultiRegionTrail: !If [IsProd, true, false]
""")
    assert found[("ProdOnly", "BW.S3.Versioning")] == ("PASS", "")
    assert found[("ProdOnly", "BW.S3.EncryptionKMS")] == ("PASS", "")  # NotProd is false where IsProd holds
    assert found[("ProdTrail", "BW.CloudTrail.MultiRegion")] == ("PASS", "")


# 6. Partial evaluation of bucket policies ----------------------------------------------------

PARTIAL = """
Parameters:
  ReaderArn: {Type: String}
Resources:
  Shared:
    Type: AWS::S3::Bucket
  SharedPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Shared
      PolicyDocument:
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: [!GetAtt Shared.Arn, !Sub "${Shared.Arn}/*"]
            Condition: {Bool: {aws:SecureTransport: "false"}}
          - Effect: Allow
            Principal: {AWS: !Ref ReaderArn}
            Action: s3:GetObject
            Resource: !Sub "${Shared.Arn}/*"
"""


def test_one_unresolved_value_does_not_make_every_policy_check_unknown(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, PARTIAL)
    assert found[("Shared", "BW.S3.SecureAccess")] == ("PASS", "")  # the complete TLS deny decides
    assert found[("Shared", "BW.S3.ActionRestrictions")] == ("PASS", "")  # the Allow's Action is known
    assert found[("Shared", "BW.S3.PolicyAllowWithNotPrincipal")] == ("PASS", "")
    for policy in ("BW.S3.PrincipalRestrictions", "BW.S3.CrossAccountPrincipals"):  # read the unknown principal
        status, reason = found[("Shared", policy)]
        assert status == "UNKNOWN" and reason == "BucketPolicy SharedPolicy: parameter ReaderArn is given at deploy time"


def test_a_decided_violation_fails_beside_an_unresolved_statement(policies, tmp_path: Path) -> None:
    text = PARTIAL.replace("          - Effect: Deny\n", "          - Effect: Allow\n            Principal: '*'\n"
                           "            Action: s3:GetObject\n            Resource: '*'\n          - Effect: Deny\n")
    found = verdicts(policies, tmp_path, text)
    assert found[("Shared", "BW.S3.PrincipalRestrictions")][0] == "FAIL"


def test_user_policies_never_see_partial_documents(tmp_path: Path) -> None:
    """A policy from a user pack may not know the markers: UNKNOWN, as before partial evaluation."""
    from policies.registry import load_policies

    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "p.py").write_text("def policy(resource):\n    return '\"*\"' not in (resource.get('Policy') or '')\n")
    (pack / "p.yml").write_text("AnalysisType: policy\nFilename: p.py\nPolicyID: User.NoStar\nSeverity: Low\n")
    (user,) = [p for p in load_policies([pack], include_builtin=False)]
    found = verdicts([user], tmp_path, PARTIAL)
    assert found[("Shared", "User.NoStar")][0] == "UNKNOWN"


# 7. Fn::Transform / AWS::Include inside Properties -------------------------------------------

@pytest.mark.parametrize("properties", [
    "Properties:\n      Fn::Transform: {Name: AWS::Include, Parameters: {Location: 's3://snippets/bucket.yaml'}}",
    "Properties:\n      BucketName: b\n      Fn::Transform: {Name: AWS::Include, Parameters: {Location: "
    "'s3://snippets/bucket.yaml'}}",
])
def test_properties_from_an_include_are_unknown_naming_it(policies, tmp_path: Path, properties: str) -> None:
    found = verdicts(policies, tmp_path, f"Resources:\n  Included:\n    Type: AWS::S3::Bucket\n    {properties}\n")
    for policy in ("BW.S3.Encryption", "BW.S3.Versioning", "BW.S3.PublicAccessBlockAll", "BW.S3.PublicRead"):
        status, reason = found[("Included", policy)]
        assert status == "UNKNOWN", policy  # never S3's defaults: the include may set anything
        assert "Fn::Transform AWS::Include (s3://snippets/bucket.yaml) is only evaluated at deploy time" in reason


def test_an_include_in_one_property_makes_only_that_one_unknown(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, """
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      BucketEncryption:
        Fn::Transform: {Name: AWS::Include, Parameters: {Location: 's3://snippets/encryption.yaml'}}
""")
    assert found[("B", "BW.S3.Versioning")][0] == "PASS"
    status, reason = found[("B", "BW.S3.Encryption")]
    assert status == "UNKNOWN" and "s3://snippets/encryption.yaml" in reason


# 8. Object Lock keeps versioning on ----------------------------------------------------------

@pytest.mark.parametrize("properties", [
    "ObjectLockEnabled: true",
    "ObjectLockEnabled: 'true'\n      VersioningConfiguration: {Status: Suspended}",  # S3 keeps it on
])
def test_object_lock_implies_versioning(policies, tmp_path: Path, properties: str) -> None:
    found = verdicts(policies, tmp_path, f"Resources:\n  Vault:\n    Type: AWS::S3::Bucket\n    Properties:\n"
                                         f"      {properties}\n")
    assert found[("Vault", "BW.S3.Versioning")] == ("PASS", "")


# 9. Reasons that name what deploy time decides -----------------------------------------------

REGION_MAP = """
Mappings:
  Settings:
    us-east-1: {Algorithm: "aws:kms", Status: Enabled}
    eu-west-1: {Algorithm: AES256, Status: Enabled}
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: !FindInMap [Settings, !Ref "AWS::Region", Status]}
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: !FindInMap [Settings, !Ref "AWS::Region", Algorithm]}
"""


def test_find_in_map_by_region_names_the_region(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, REGION_MAP)
    assert found[("B", "BW.S3.Versioning")] == ("PASS", "")  # every region's entry says Enabled
    status, reason = found[("B", "BW.S3.EncryptionKMS")]
    assert status == "UNKNOWN" and "no entry" not in reason
    assert "Fn::FindInMap Settings picks by AWS::Region, which is only known at deploy time" in reason


def test_find_in_map_by_region_resolves_where_the_region_is_known(policies, tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    out.mkdir()
    (out / "App.template.json").write_text(json.dumps(parse_text(REGION_MAP, Path("t.yaml"))))
    (out / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": {"App": {
        "type": "aws:cloudformation:stack", "environment": "aws://111122223333/eu-west-1",
        "properties": {"templateFile": "App.template.json"}}}}))
    found = {(f.ref.logical_id, f.policy.id): f.status for f in evaluate(policies, collect_template_subjects([out]))}
    assert found[("B", "BW.S3.EncryptionKMS")] == "FAIL"  # eu-west-1: AES256


def test_empty_logging_configuration_logs_into_the_bucket_itself(policies, tmp_path: Path) -> None:
    found = verdicts(policies, tmp_path, """
Parameters:
  Name: {Type: String}
Resources:
  Self:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref Name
      LoggingConfiguration: {}
""")
    assert found[("Self", "BW.S3.Logging")][0] == "PASS"
    assert found[("Self", "BW.S3.LogTargetSanity")] == (
        "FAIL", "the bucket logs to itself (every log delivery writes another log record)")
    assert not [reason for (_, reason) in found.values() if "None" in reason]


def test_worlds_are_bounded_and_the_rest_named(policies, tmp_path: Path) -> None:
    """Ten independent conditions would be 1,024 ways to deploy: the bucket is built at most
    MAX_WORLDS times, and what stays undecided is UNKNOWN naming its condition."""
    from policies.sources.cfn_worlds import MAX_WORLDS

    conditions = "".join(f"  C{i}: !Equals [!Ref P{i}, on]\n" for i in range(10))
    parameters = "".join(f"  P{i}: {{Type: String}}\n" for i in range(10))
    tags = "".join(f"        - {{Key: k{i}, Value: !If [C{i}, a, b]}}\n" for i in range(9))
    text = (f"Parameters:\n{parameters}Conditions:\n{conditions}Resources:\n  B:\n    Type: AWS::S3::Bucket\n"
            f"    Properties:\n      Tags:\n{tags}      VersioningConfiguration: {{Status: !If [C9, Enabled, Suspended]}}\n")
    (tmp_path / "t.yaml").write_text(text)
    (subject,) = collect_template_subjects([tmp_path / "t.yaml"])
    assert len(subject.worlds()) <= MAX_WORLDS
    found = verdicts(policies, tmp_path, text)
    assert found[("B", "BW.S3.Encryption")] == ("PASS", "")  # not touched by any condition
    status, reason = found[("B", "BW.S3.Versioning")]
    assert status == "UNKNOWN" and "C9" in reason and "parameter P9 is given at deploy time" in reason
