"""S3 data calls through a VPC endpoint that arrive from a public IP address."""

from bucketwatch_helpers import actor, bucket_change_context, bucket_name, is_public_ip

S3_DATA_ACCESS_OPERATIONS = {
    "GetObject", "PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "HeadObject",
    "ListObjects", "ListObjectsV2", "GetObjectAcl", "PutObjectAcl", "CompleteMultipartUpload",
}


def rule(event):
    return (event.get("eventSource") == "s3.amazonaws.com"
            and bool(event.get("vpcEndpointId"))
            and event.get("eventName") in S3_DATA_ACCESS_OPERATIONS
            and is_public_ip(event.get("sourceIPAddress")))


def title(event):
    return (f"S3 [{event.get('eventName')}] on [{bucket_name(event)}] through VPC endpoint "
            f"[{event.get('vpcEndpointId')}] from public IP [{event.get('sourceIPAddress')}]")


def dedup(event):
    return f"{event.get('vpcEndpointId')}:{event.get('sourceIPAddress')}:{actor(event)}"


def alert_context(event):
    context = bucket_change_context(event)
    context["vpcEndpointId"] = event.get("vpcEndpointId")
    return context
