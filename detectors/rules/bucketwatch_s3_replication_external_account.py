"""A bucket now replicates its objects to an account outside the organization (and its trusted
accounts).

Exfiltration that keeps going: every new object is copied to the attacker's bucket by S3 itself,
with no reads in the logs. A replication rule names the destination account (`Destination.Account`)
when the copy is to be owned by it, which is how a copy to another account is set up; a rule
without it names only the destination bucket's ARN, which does not say its account, and is not
judged here (AWS.S3.BucketPolicyModified still reports the change). CloudTrail writes the
configuration's XML as JSON: one rule is an object, several a list; names are matched whatever
their case. Severity and the organization as in Bucketwatch.S3.BucketPolicyExternalGrant.
"""

from collections.abc import Mapping

from bucketwatch_helpers import (
    actor,
    bucket_account,
    bucket_change_context,
    bucket_name,
    external_account,
    organization,
    s3_call_succeeded,
)


def _get(value, name):
    """`value[name]` when `value` is a mapping (events match keys whatever their case), else None."""
    return value.get(name) if isinstance(value, Mapping) else None


def _rules(event):
    config = _get(event.get("requestParameters"), "ReplicationConfiguration")
    found = _get(config, "Rule") or _get(config, "Rules")
    rules = found if isinstance(found, list | tuple) else [found]  # events give lists as tuples
    return [rule for rule in rules if isinstance(rule, Mapping)]


def _destinations(event):
    """{external account: destination bucket ARNs} of the new configuration's enabled rules."""
    owner = bucket_account(event)
    found = {}
    for replication_rule in _rules(event):
        if str(_get(replication_rule, "Status") or "Enabled").lower() == "disabled":
            continue
        destination = _get(replication_rule, "Destination")
        account = str(_get(destination, "Account") or "")
        if account and account != owner and external_account(account):
            found.setdefault(account, set()).add(str(_get(destination, "Bucket") or "<unknown bucket>"))
    return found


def rule(event):
    if not s3_call_succeeded(event, "PutBucketReplication"):
        return False
    if not bucket_account(event) and not organization().known:
        return False  # no way to tell another account from the bucket's own
    return bool(_destinations(event))


def severity(event):
    return "HIGH" if organization().known else "MEDIUM"


def title(event):
    where = "outside the organization" if organization().known else "of another account"
    return (f"S3 bucket [{bucket_name(event)}] now replicates to account(s) [{', '.join(sorted(_destinations(event)))}] "
            f"{where}, changed by [{actor(event)}]")


def dedup(event):
    return f"{bucket_name(event)}:{','.join(sorted(_destinations(event)))}"


def alert_context(event):
    context = bucket_change_context(event)
    destinations = _destinations(event)
    context.update(bucketAccount=bucket_account(event), externalAccounts=sorted(destinations),
                   destinationBuckets={account: sorted(buckets) for account, buckets in destinations.items()},
                   replicationRole=_get(_get(event.get("requestParameters"), "ReplicationConfiguration"), "Role"),
                   organizationKnown=organization().known)
    return context
