"""`bucketwatch demo`: the whole product on a local AWS endpoint, in one command.

Modules: `account` (provisioning), `story` (the generated day and its attack), `delivery` (log
objects where AWS writes them), `detection` (the detector handler driven as Lambda would),
`run` (orchestration), `report` / `html` (what the user reads), `cli` (arguments).
"""
