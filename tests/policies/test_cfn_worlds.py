"""Enumerating worlds: every assignment of the choices a build meets, and no work past a choice
the enumeration splits on."""

from __future__ import annotations

from policies.sources.cfn_worlds import World, enumerate_worlds

UNKNOWN = "unknown"


def _recording(steps: list[tuple[str, dict]]):
    def build(world: World) -> tuple:
        region = world.choose("region", ["eu", "us"], UNKNOWN)
        steps.append(("after region", dict(world.assignment)))
        env = world.choose("env", ["dev", "staging", "prod"], UNKNOWN)
        steps.append(("after env", dict(world.assignment)))
        return region, env
    return build


def test_every_assignment_once_and_no_step_after_a_choice_that_is_split() -> None:
    steps: list[tuple[str, dict]] = []
    worlds = enumerate_worlds(_recording(steps))
    assert sorted(result for _, result in worlds) == [(r, e) for r in ("eu", "us") for e in ("dev", "prod", "staging")]
    # The first build stops at "region", each of its two children at "env": only the six
    # complete worlds get past it.
    assert [step for step, _ in steps].count("after region") == 2 + 6
    assert [step for step, _ in steps].count("after env") == 6
    assert all(len(assignment) == 2 for step, assignment in steps if step == "after env")


def test_past_the_limit_the_build_runs_to_its_end_with_the_choice_unresolved() -> None:
    steps: list[tuple[str, dict]] = []
    worlds = enumerate_worlds(_recording(steps), limit=3)  # 2 regions fit, 2 x 3 do not
    assert sorted(result for _, result in worlds) == [("eu", UNKNOWN), ("us", UNKNOWN)]
    assert sorted(world.pending["env"] for world, _ in worlds) == [3, 3]
    assert [step for step, _ in steps].count("after env") == 2


def test_a_world_that_cannot_deploy_is_dropped() -> None:
    def build(world: World) -> str:
        env = world.choose("env", ["dev", "prod"], UNKNOWN)
        world.impossible = env == "dev"  # e.g. a FindInMap without a "dev" entry
        return env

    assert [result for _, result in enumerate_worlds(build)] == ["prod"]
