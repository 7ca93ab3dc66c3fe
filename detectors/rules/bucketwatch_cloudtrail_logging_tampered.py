"""CloudTrail logging stopped, a trail deleted, or what a trail records changed."""

from bucketwatch_helpers import actor
from panther_aws_helpers import aws_cloudtrail_success, aws_rule_context

BLINDING = {"StopLogging", "DeleteTrail"}  # the trail records nothing from now on
NARROWING = {"UpdateTrail", "PutEventSelectors", "PutAdvancedEventSelectors"}  # it may record less


def rule(event):
    return (event.get("eventSource") == "cloudtrail.amazonaws.com"
            and event.get("eventName") in BLINDING | NARROWING
            and aws_cloudtrail_success(event))


def _trail(event):
    params = event.get("requestParameters") or {}
    return params.get("name") or params.get("trailName") or "<unknown trail>"


def severity(event):
    return "High" if event.get("eventName") in BLINDING else "Medium"


def title(event):
    return f"CloudTrail [{_trail(event)}]: {event.get('eventName')} by [{actor(event)}]"


def dedup(event):
    return f"{_trail(event)}:{actor(event)}"


def alert_context(event):
    context = aws_rule_context(event)
    context["trail"] = _trail(event)
    return context
