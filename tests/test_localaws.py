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


def test_server_dies_with_a_killed_parent(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "moto.pid"
    script = (
        "import time; from bucketwatch.localaws import MotoServer\n"
        "s = MotoServer().start()\n"
        f"open({str(pid_file)!r}, 'w').write(str(s._process.pid))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.1)
        server_pid = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                return
            # a zombie still answers kill(0) until reaped by init; check its state
            try:
                with open(f"/proc/{server_pid}/stat") as stat:
                    if stat.read().split()[2] == "Z":
                        return
            except FileNotFoundError:
                return
            time.sleep(0.1)
        raise AssertionError(f"moto server {server_pid} outlived its SIGKILLed parent")
    finally:
        parent.kill()
