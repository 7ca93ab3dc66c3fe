"""Baselines learned from the lake: thresholds for AccessError, and proposed allowlists."""
