"""Correlation rules (Panther's format): spec validation, the evaluator, signals read from the
rule-match lake, and the run that turns matches into alerts through the detection engine."""
