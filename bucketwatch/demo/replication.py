"""S3 replication's copy step, performed by the demo: moto keeps a bucket's replication
configuration (PutBucketReplication, GetBucketReplication) but never replicates an object
(moto/s3/models.py `put_bucket_replication` only stores it).

For every log object the demo delivers into a member's access-log bucket, `Replicator` does what
S3 does with that bucket's configuration as the endpoint returns it: the enabled rule whose filter
matches the key (the highest `Priority` wins, as in S3), the object read as the configuration's
role, written to the rule's destination bucket under the same key. `AccessControlTranslation
{Owner: Destination}` makes the replica the destination account's object, so the demo writes it
with that account's credentials (moto sends a bucket's notifications from the writer's account:
the archive's notification fires, as it does in AWS for a replica).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bucketwatch.demo.clients import Clients
from bucketwatch.demo.detection import DemoError


@dataclass(frozen=True)
class Replica:
    source_bucket: str
    destination_bucket: str
    destination_account: str
    key: str
    rule_id: str


class Replicator:
    """Replicates new objects of the buckets of `accounts` (account id -> that account's clients)."""

    def __init__(self, accounts: Mapping[str, Clients]) -> None:
        self.accounts = accounts
        self._configurations: dict[str, dict[str, Any] | None] = {}
        self._roles: dict[str, Clients] = {}
        self.replicas: list[Replica] = []

    def replicate(self, account_id: str, bucket: str, key: str) -> Replica | None:
        """Copy s3://bucket/key as its replication configuration says; None when no rule applies."""
        configuration = self._configuration(account_id, bucket)
        rule = matching_rule(configuration, key) if configuration else None
        if rule is None:
            return None
        destination = rule["Destination"]
        owner = (destination.get("AccessControlTranslation") or {}).get("Owner")
        target_account = destination.get("Account")
        if owner != "Destination" or target_account not in self.accounts:
            raise DemoError(f"s3://{bucket}: rule {rule.get('ID')!r} replicates to account {target_account} "
                            f"with owner {owner!r}; the demo replicates only into the organization's own "
                            "accounts with AccessControlTranslation Owner=Destination")
        body = self._as_role(account_id, configuration["Role"]).s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        target_bucket = destination["Bucket"].removeprefix("arn:aws:s3:::")
        self.accounts[target_account].s3.put_object(Bucket=target_bucket, Key=key, Body=body)
        replica = Replica(bucket, target_bucket, target_account, key, str(rule.get("ID")))
        self.replicas.append(replica)
        return replica

    def _configuration(self, account_id: str, bucket: str) -> dict[str, Any] | None:
        if bucket not in self._configurations:
            s3 = self.accounts[account_id].s3
            try:
                self._configurations[bucket] = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ReplicationConfigurationNotFoundError":
                    raise
                self._configurations[bucket] = None
        return self._configurations[bucket]

    def _as_role(self, account_id: str, role_arn: str) -> Clients:
        """S3 reads the source as the configuration's role (moto: any role can be assumed)."""
        if role_arn not in self._roles:
            self._roles[role_arn] = self.accounts[account_id].assume(role_arn, session_name="s3-replication")
        return self._roles[role_arn]


def matching_rule(configuration: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The enabled rule for `key`: prefix filters (V2 `Filter.Prefix` or V1 `Prefix`), highest
    priority first. Tag filters are refused: the demo's rules have none."""
    candidates = []
    for rule in configuration.get("Rules") or ():
        if rule.get("Status") != "Enabled":
            continue
        selector = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
        if set(selector) - {"Prefix"}:
            raise DemoError(f"replication rule {rule.get('ID')!r}: only prefix filters are emulated, got {selector}")
        if key.startswith(selector.get("Prefix") or ""):
            candidates.append(rule)
    return max(candidates, key=lambda r: int(r.get("Priority") or 0), default=None)
