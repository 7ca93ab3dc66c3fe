"""`bucketwatch demo`: the whole product on a local AWS endpoint, in one command.

Modules: `account` (provisioning), `story` (the generated day and its attack), `delivery` (log
objects where AWS writes them), `detection` (the detector handler driven as Lambda would),
`run` (orchestration), `report` / `html` (what the user reads), `cli` (arguments).

`--organization` (docs/demo.md): `organization` (AWS Organizations, the central and member
accounts provisioned as their stacks), `org_story` (a morning in three members, an attack across
accounts), `replication` (S3 replication's copy step, which moto does not perform), `org_run`
(orchestration), `org_report` (text and HTML by account).
"""
