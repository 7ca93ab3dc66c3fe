"""Bucketwatch glue: the command line, configuration loading and the local demo."""

from detectors.common.version import __version__

__all__ = ["__version__"]
