"""Hypothesis profiles for the fuzz suite.

The default profile keeps the whole suite within about a minute; for a longer search run
`pytest tests/fuzz --hypothesis-profile=long` (thousands of examples per target), or
`--hypothesis-profile=ci` for a middle ground. Failing examples are printed (and stored in
.hypothesis/) so they can be replayed.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.function_scoped_fixture]}
settings.register_profile("bucketwatch", max_examples=60, **_COMMON)
settings.register_profile("ci", max_examples=400, **_COMMON)
settings.register_profile("long", max_examples=3000, **_COMMON)
settings.load_profile("bucketwatch")  # `--hypothesis-profile NAME` (Hypothesis' pytest plugin) overrides it
