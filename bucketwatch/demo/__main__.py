import sys

from bucketwatch.demo.cli import run

sys.exit(run())
