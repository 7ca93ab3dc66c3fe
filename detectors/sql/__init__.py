"""SQL for the lake in three dialects: Panther's Snowflake SQL, DuckDB (local) and Athena (AWS).

`transpile` rewrites a query between dialects (Panther's macros, table names and VARIANT paths
included); executors run it (DuckDB over the local lake here; Athena in the stack).
"""

from detectors.sql.transpile import DIALECTS, check_athena, transpile

__all__ = ["DIALECTS", "check_athena", "transpile"]
