"""Bucketwatch glue: the command line, configuration loading and the local demo."""

__version__ = "0.1.0"
