"""Scheduled queries and scheduled rules (Panther's formats), their schedules and state, and the
local scheduler that also runs the correlation rules (detectors.correlation)."""
