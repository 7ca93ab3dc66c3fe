"""Every way a template can deploy: evaluating all branches of what only deploy time decides.

A condition on a parameter (`IsProd: !Equals [!Ref Env, prod]`), a parameter with
`AllowedValues`, `AWS::Region` in an environment-agnostic stack: each is a *choice* CloudFormation
makes at deploy time. Instead of giving up on a resource that depends on one, the template
source builds it once per *world* (one assignment of every choice it meets) and the runner
judges every world: PASS when all pass, FAIL when all fail, UNKNOWN naming the choice when
they disagree.

Worlds are found lazily: a build that meets an unassigned choice records it as pending (its
value is `Unresolved` for that build), and the build is repeated once per option of the first
pending choice. Only choices a resource actually depends on multiply its worlds; past
`MAX_WORLDS` the remaining choices stay unresolved (UNKNOWN, naming them). A build that meets a
choice it will be split on stops there: the rest of it would be thrown away.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
MAX_WORLDS = 64


class _Other:
    """The option "a value equal to none of those the template compares it with"."""

    def __repr__(self) -> str:
        return "another value"


OTHER = _Other()


class _Split(Exception):
    """Out of a build, at the first unassigned choice when the enumeration will split on it."""


@dataclass
class World:
    """One assignment of deploy-time choices, and what a build learned while using it."""

    assignment: dict[Hashable, int] = field(default_factory=dict)
    pending: dict[Hashable, int] = field(default_factory=dict)  # unassigned choice -> its option count
    facts: dict[str, str] = field(default_factory=dict)  # "condition IsProd" -> "true", for reasons
    consumed: int = 0  # assigned choices used so far (tells whether a condition depended on one)
    trail: list[str] = field(default_factory=list)  # why each choice used so far is one, in order
    because: dict[str, list[str]] = field(default_factory=dict)  # fact -> why it was a deploy-time choice
    impossible: bool = False  # the template cannot deploy this way (a FindInMap with no entry for it)
    splittable: int = 0  # a first unassigned choice with at most this many options ends the build (_Split)

    def choose(self, key: Hashable, options: list[Any], unresolved: Any) -> Any:
        """The option this world assigns to `key`, or `unresolved` (and `key` becomes pending)."""
        if key in self.assignment:
            self.consumed += 1
            self.trail.append(getattr(unresolved, "reason", str(unresolved)))
            return options[self.assignment[key]]
        if not self.pending and not self.impossible and len(options) <= self.splittable:
            self.pending[key] = len(options)
            raise _Split
        self.pending.setdefault(key, len(options))
        return unresolved

    def note(self, fact: str, value: str, because: list[str]) -> None:
        self.facts[fact] = value
        self.because[fact] = list(dict.fromkeys(because))

    def described(self) -> dict[str, str]:
        """The facts reasons show, each with why it was a deploy-time choice ("why <fact>")."""
        return {**self.facts, **{f"why {fact}": "; ".join(why) for fact, why in self.because.items() if why}}


def enumerate_worlds(build: Callable[[World], T], limit: int = MAX_WORLDS) -> list[tuple[World, T]]:
    """(world, build(world)) for every world `build` distinguishes, at most `limit` of them.

    Breadth first: the choices met first (in every world) are assigned first, so when the limit
    stops the splitting, every world has assigned the same choices and left the same ones open."""
    done: list[tuple[World, T]] = []
    todo: deque[dict[Hashable, int]] = deque([{}])
    while todo:
        assignment = todo.popleft()
        world = World(assignment, splittable=limit - len(done) - len(todo))
        try:
            result = build(world)
        except _Split:  # split just below, as the build's first pending choice
            result = None  # type: ignore[assignment]
        if world.impossible:
            continue
        if world.pending:
            key, count = next(iter(world.pending.items()))
            if len(done) + len(todo) + count <= limit:
                todo.extend({**assignment, key: index} for index in range(count))
                continue
        done.append((world, result))
    return done
