import boto3

from bucketwatch.localaws import MotoServer


def test_moto_server_serves_s3_over_http_and_resets(aws_endpoint: str, moto_server: MotoServer) -> None:
    assert aws_endpoint.startswith("http://127.0.0.1:")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="fixture-check")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["fixture-check"]
    moto_server.reset()
    assert s3.list_buckets()["Buckets"] == []


def test_moto_server_stops_and_leaves_no_process() -> None:
    server = MotoServer().start()
    process = server._process
    assert process is not None and process.poll() is None
    server.stop()
    assert process.poll() is not None
