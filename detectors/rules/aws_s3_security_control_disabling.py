"""Two or more distinct S3 recovery/audit controls disabled on one bucket by one actor.

`unique()` names the control(s) each call disabled; the engine raises the alert once the
number of distinct values within the dedup period reaches the threshold (2).
"""

from bucketwatch_helpers import (
    actor,
    bucket_change_context,
    bucket_name,
    logging_disabled,
    mfa_delete_disabled,
    versioning_suspended,
)


def _controls(event):
    controls = []
    if logging_disabled(event):
        controls.append("logging")
    if versioning_suspended(event):
        controls.append("versioning")
    if mfa_delete_disabled(event):
        controls.append("mfa_delete")
    return controls


def rule(event):
    return bool(_controls(event))


def unique(event):
    return "+".join(_controls(event))


def title(event):
    return f"Several security controls disabled on S3 bucket [{bucket_name(event)}] by [{actor(event)}]"


def dedup(event):
    return f"{bucket_name(event)}:{actor(event)}"


def alert_context(event):
    context = bucket_change_context(event)
    context["controls_disabled"] = _controls(event)
    return context
