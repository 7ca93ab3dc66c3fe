"""The lake in S3: processed bucket, Glue databases and tables with partition projection,
the `panther_views.all_ip_addresses` view and an Athena workgroup.

Table columns come from `detectors/schema.py` (the lake's data contract); partition
projection mirrors the lake layout `<database>/<table>/year=YYYY/month=MM/day=DD/hour=HH/`,
so Athena finds new partitions without crawlers or `MSCK REPAIR`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from detectors import schema
from infra.buckets import monitoring_bucket, retention_rule
from infra.naming import LAKE_BUCKET_PREFIX, regional_bucket_name
from policies.posture_handler import FINDINGS_TABLE, POSTURE_FINDINGS_SCHEMA

ATHENA_RESULTS_PREFIX = "athena-results/"
WORKGROUP_NAME = "bucketwatch"
RESULTS_RETENTION = Duration.days(30)
LAKE_RETENTION = Duration.days(365)
# Partition projection ranges: the lake's years, and zero-padded month/day/hour directory names.
PROJECTION_RANGES = {"year": (f"{schema.LAKE_YEARS[0]},{schema.LAKE_YEARS[1]}", None), "month": ("1,12", 2), "day": ("1,31", 2), "hour": ("0,23", 2)}
PRESTO_TYPES = {"string": "varchar", "bigint": "bigint", "int": "integer", "boolean": "boolean", "timestamp": "timestamp"}


@dataclass(frozen=True)
class LakeTable:
    database: str
    name: str
    columns: tuple[tuple[str, str], ...]


def lake_tables(extra: Sequence[LakeTable] = ()) -> list[LakeTable]:
    """Every lake table: each log type in panther_logs and panther_rule_matches, plus `extra`."""
    tables = []
    for log_type, table in schema.TABLE_OF_LOG_TYPE.items():
        tables.append(LakeTable(schema.DB_LOGS, table, _columns(schema.SCHEMA_OF_LOG_TYPE[log_type])))
        tables.append(LakeTable(schema.DB_RULE_MATCHES, table, _columns(schema.rule_matches_schema(log_type))))
    return [*tables, *extra]


def posture_findings_table() -> LakeTable:
    """`bucketwatch.posture_findings`: one row per verdict of a scan, partitioned by scan time."""
    return LakeTable(schema.DB_BUCKETWATCH, FINDINGS_TABLE, _columns(POSTURE_FINDINGS_SCHEMA))


def _columns(arrow_schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, glue_type) for name, glue_type in schema.glue_columns(arrow_schema) if name not in schema.PARTITION_COLUMNS
    )


def projection_parameters(location: str) -> dict[str, str]:
    """Glue table parameters for partition projection over `location` (ends with `/`)."""
    params = {"classification": "parquet", "projection.enabled": "true"}
    for column, (value_range, digits) in PROJECTION_RANGES.items():
        params[f"projection.{column}.type"] = "integer"
        params[f"projection.{column}.range"] = value_range
        if digits:
            params[f"projection.{column}.digits"] = str(digits)
    params["storage.location.template"] = location + "/".join(
        f"{column}=${{{column}}}" for column in schema.PARTITION_COLUMNS
    ) + "/"
    return params


class Lake(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        bucket_name: str | None = None,
        retention: Duration = LAKE_RETENTION,
        results_retention: Duration = RESULTS_RETENTION,
        object_lock_days: int | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bucket = monitoring_bucket(
            self,
            "ProcessedBucket",
            bucket_name=bucket_name or regional_bucket_name(LAKE_BUCKET_PREFIX, stack),
            key=key,
            object_lock_days=object_lock_days,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(id="athena-results", prefix=ATHENA_RESULTS_PREFIX, expiration=results_retention),
                retention_rule("lake-retention", retention),
            ],
        )
        self.databases: dict[str, glue.CfnDatabase] = {}
        self.tables: dict[str, glue.CfnTable] = {}
        for table in lake_tables([posture_findings_table()]):
            self._add_table(table)
        self.views = {name: self._add_view(name, column) for name, column in schema.INDICATOR_VIEWS.items()}
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=WORKGROUP_NAME,
            description="Bucketwatch lake queries: results encrypted, settings enforced",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.bucket.s3_url_for_object(ATHENA_RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )

    @property
    def workgroup_name(self) -> str:
        return WORKGROUP_NAME

    @property
    def workgroup_arn(self) -> str:
        return Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=WORKGROUP_NAME)

    def catalog_arns(self) -> list[str]:
        """The Glue catalog, the lake's databases and every table and view in them, by exact name:
        what reading the lake through Athena needs, and nothing else of the account's catalog."""
        stack = Stack.of(self)
        arns = [stack.format_arn(service="glue", resource="catalog")]
        arns += [stack.format_arn(service="glue", resource="database", resource_name=name) for name in sorted(self.databases)]
        names = sorted({*self.tables, *(f"{schema.DB_VIEWS}.{view}" for view in self.views)})
        arns += [stack.format_arn(service="glue", resource="table", resource_name=name.replace(".", "/")) for name in names]
        return arns

    def table_prefixes(self) -> list[str]:
        """The bucket prefixes of the lake's databases (`panther_logs/`, ...): where tables' files are."""
        return [f"{name}/" for name in sorted(self.databases) if name != schema.DB_VIEWS]

    def table_location(self, database: str, table: str) -> str:
        return self.bucket.s3_url_for_object(schema.table_path(database, table)) + "/"

    def _database(self, name: str) -> glue.CfnDatabase:
        if name not in self.databases:
            self.databases[name] = glue.CfnDatabase(
                self,
                f"Database-{name}",
                catalog_id=Stack.of(self).account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=name, description=f"Bucketwatch lake: {name}"
                ),
            )
        return self.databases[name]

    def _add_table(self, table: LakeTable) -> glue.CfnTable:
        database = self._database(table.database)
        location = self.table_location(table.database, table.name)
        cfn = glue.CfnTable(
            self,
            f"Table-{table.database}-{table.name}",
            catalog_id=Stack.of(self).account,
            database_name=table.database,
            table_input=glue.CfnTable.TableInputProperty(
                name=table.name,
                table_type="EXTERNAL_TABLE",
                parameters=projection_parameters(location),
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=column, type="int") for column in schema.PARTITION_COLUMNS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in table.columns],
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    ),
                ),
            ),
        )
        cfn.add_resource_dependency(database)
        self.tables[f"{table.database}.{table.name}"] = cfn
        return cfn

    def _add_view(self, name: str, indicator: str) -> glue.CfnTable:
        """`panther_views.<name>`: standard fields and `indicator` of every log table, one row per event."""
        columns = [
            *((column, _glue_type_of(column)) for column in (*schema.VIEW_COMMON_COLUMNS, indicator)),
            *((column, "int") for column in schema.PARTITION_COLUMNS),
        ]
        sql = " UNION ALL ".join(
            f"SELECT {', '.join(column for column, _ in columns)} FROM {schema.DB_LOGS}.{table}"
            for table in schema.TABLE_OF_LOG_TYPE.values()
        )
        view = glue.CfnTable(
            self,
            f"View-{name}",
            catalog_id=Stack.of(self).account,
            database_name=schema.DB_VIEWS,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                table_type="VIRTUAL_VIEW",
                parameters={"presto_view": "true", "comment": "Presto View"},
                view_original_text=presto_view_text(sql, schema.DB_VIEWS, columns),
                view_expanded_text="/* Presto View */",
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in columns],
                    serde_info=glue.CfnTable.SerdeInfoProperty(),
                ),
            ),
        )
        view.add_resource_dependency(self._database(schema.DB_VIEWS))
        for table in schema.TABLE_OF_LOG_TYPE.values():
            view.add_resource_dependency(self.tables[f"{schema.DB_LOGS}.{table}"])
        return view


def _glue_type_of(column: str) -> str:
    types = {name: glue_type for name, glue_type in schema.glue_columns(pa.schema(list(schema.P_FIELDS)))}
    return types[column]


def presto_type(glue_type: str) -> str:
    if glue_type.startswith("array<"):
        return f"array({presto_type(glue_type[6:-1])})"
    return PRESTO_TYPES[glue_type]


def presto_view_text(sql: str, database: str, columns: Sequence[tuple[str, str]]) -> str:
    """The `ViewOriginalText` Athena writes for `CREATE VIEW`: base64 JSON in a comment."""
    definition = {
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": [{"name": name, "type": presto_type(glue_type)} for name, glue_type in columns],
    }
    encoded = base64.b64encode(json.dumps(definition).encode()).decode()
    return f"/* Presto View: {encoded} */"
