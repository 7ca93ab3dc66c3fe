"""Alert destinations in AWS: one SNS topic per destination of the config file's `alerts:`
section (`bucketwatch-alerts-<name>`, encrypted with the stack's key, TLS only). Subscribe a
pager, a team's mailbox or the webhook notifier to the one a team should get; the alerts topic
still gets every alert. The functions that publish alerts receive the topics as
BUCKETWATCH_ALERT_TOPICS (JSON name -> ARN) and may publish to exactly these topics.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from detectors.engine.routing import Routing

TOPIC_PREFIX = "bucketwatch-alerts-"


class AlertDestinations(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, routing: Routing, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topics: dict[str, sns.Topic] = {
            d.name: sns.Topic(self, f"Topic-{d.name}", topic_name=f"{TOPIC_PREFIX}{d.name}",
                              display_name=f"Bucketwatch alerts: {d.name}", master_key=key, enforce_ssl=True)
            for d in routing.destinations
        }

    def environment(self) -> str | None:
        """BUCKETWATCH_ALERT_TOPICS, or None without destinations."""
        if not self.topics:
            return None
        return Stack.of(self).to_json_string({name: topic.topic_arn for name, topic in self.topics.items()})

    def grant_publish(self, role: iam.IRole) -> None:
        if self.topics:
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="PublishToAlertDestinations", actions=["sns:Publish"],
                resources=[topic.topic_arn for topic in self.topics.values()]))
