"""Bucketwatch glue: the command line, configuration loading and the local demo."""

import os

# Arrow's memory pool (mimalloc) hands freed pages back to the system soon after they are freed,
# and the next batch faults them in again: in `detect`, 28,000 of its 45,000 minor page faults and
# about 0.3 CPU-s of 6.3 on the benchmark (docs/detection.md). The command line is a short-lived
# process: it keeps them (peak RSS of that `detect` 460 instead of 424 MB). mimalloc reads this
# when Arrow is loaded, so it is set before anything imports pyarrow; a value already set wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")

from detectors.common.version import __version__  # after the allocator setting

__all__ = ["__version__"]
