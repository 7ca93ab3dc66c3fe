"""A bucket policy now grants an account outside the organization (and its trusted accounts).

The backdoor of an exfiltration: `Principal: {"AWS": "arn:aws:iam::<attacker>:root"}` on a
bucket. Accounts come from the Allow statements' principals (account ids, iam/sts ARNs) and from
`aws:PrincipalAccount` conditions on a wildcard principal; the bucket's own account is never
external. With the organization known (config file, deployed stack), members and trusted
accounts are internal and an outsider is High; with it unknown, every other account is
external, as in Panther's cross-account rules, and the alert is Medium: it may be a member.
Public grants (any principal) are Bucketwatch.S3.BucketMadePublic's.
"""

from bucketwatch_helpers import (
    actor,
    bucket_account,
    bucket_change_context,
    bucket_name,
    external_account,
    organization,
)
from bucketwatch_iam import actions, granted_accounts, statements
from panther_aws_helpers import aws_cloudtrail_success


def _grants(event):
    """{external account: actions granted to it} of the new policy."""
    owner = bucket_account(event)
    found = {}
    for statement in statements(event.deep_get("requestParameters", "bucketPolicy")):
        for account in granted_accounts(statement):
            if account != owner and external_account(account):
                found.setdefault(account, []).extend(actions(statement))
    return found


def rule(event):
    if event.get("eventName") != "PutBucketPolicy" or not aws_cloudtrail_success(event):
        return False
    if not bucket_account(event) and not organization().known:
        return False  # no way to tell another account from the bucket's own
    return bool(_grants(event))


def severity(event):
    return "HIGH" if organization().known else "MEDIUM"


def title(event):
    where = "outside the organization" if organization().known else "of another account"
    return (f"S3 bucket [{bucket_name(event)}] policy grants account(s) [{', '.join(sorted(_grants(event)))}] "
            f"{where}, changed by [{actor(event)}]")


def dedup(event):
    return f"{bucket_name(event)}:{','.join(sorted(_grants(event)))}"


def alert_context(event):
    context = bucket_change_context(event)
    grants = _grants(event)
    context.update(bucketAccount=bucket_account(event), externalAccounts=sorted(grants),
                   grantedActions={account: sorted(set(names)) for account, names in grants.items()},
                   organizationKnown=organization().known)
    return context
