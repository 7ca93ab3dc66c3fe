"""A resource policy now lets anyone on the internet in (S3, ECR, OpenSearch, KMS, Glacier, SNS,
SQS, Secrets Manager): an Allow for any principal that no condition pins down."""

from bucketwatch_helpers import actor
from bucketwatch_iam import open_statements
from panther_aws_helpers import aws_cloudtrail_success, aws_rule_context

# eventName -> where the new policy is in requestParameters
POLICY_PATHS = {
    "PutBucketPolicy": ("bucketPolicy",),
    "SetRepositoryPolicy": ("policyText",),
    "CreateElasticsearchDomain": ("accessPolicies",),
    "UpdateElasticsearchDomainConfig": ("accessPolicies",),
    "CreateDomain": ("accessPolicies",),  # OpenSearch Service
    "UpdateDomainConfig": ("accessPolicies",),
    "CreateKey": ("policy",),
    "PutKeyPolicy": ("policy",),
    "SetVaultAccessPolicy": ("policy", "policy"),
    "SetQueueAttributes": ("attributes", "Policy"),
    "CreateQueue": ("attributes", "Policy"),
    "CreateTopic": ("attributes", "Policy"),
    "PutResourcePolicy": ("resourcePolicy",),
}
# What names the resource in requestParameters, per service, for the title.
NAME_KEYS = ("bucketName", "repositoryName", "domainName", "keyId", "vaultName", "queueUrl", "topicArn",
             "secretId", "name")


def _policy(event):
    params = event.get("requestParameters")
    if not params:
        return None
    name = event.get("eventName")
    if name == "SetTopicAttributes":
        return params.get("attributeValue") if params.get("attributeName") == "Policy" else None
    path = POLICY_PATHS.get(name)
    return event.deep_get("requestParameters", *path) if path else None


def rule(event):
    if not aws_cloudtrail_success(event):
        return False
    return bool(open_statements(_policy(event)))


def _resource(event):
    params = event.get("requestParameters") or {}
    for key in NAME_KEYS:
        if params.get(key):
            return str(params[key])
    resources = event.get("resources") or ()
    arns = [r.get("arn") or r.get("ARN") for r in resources if hasattr(r, "get")]
    return next((a for a in arns if a), "<unknown resource>")


def title(event):
    service = str(event.get("eventSource") or "AWS").split(".")[0]
    return f"{service} resource [{_resource(event)}] made public by [{actor(event)}] ({event.get('eventName')})"


def dedup(event):
    return f"{event.get('eventSource')}:{_resource(event)}"


def alert_context(event):
    context = aws_rule_context(event)
    context["resource"] = _resource(event)
    context["openStatements"] = [dict(s) for s in open_statements(_policy(event))][:5]
    return context
