"""Posture policies over one normalized bucket, the sources that build buckets, and their runners."""
