"""Log parsers, normalization, detection rules and engine, the Lambda handler and the lake."""
