"""One module per sub-command; see `bucketwatch.cli`."""
