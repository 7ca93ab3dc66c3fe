"""Resolving CloudFormation intrinsics far enough to judge a resource, and no further.

What cannot be known before deployment (a parameter's value, an imported output, an AZ list)
resolves to `Unresolved(reason)`; the template source then marks the field that contains it
unknown, so a policy needing it says UNKNOWN instead of guessing.

Values that are unknown but *consistent* inside one deployment resolve to stable tokens, so
comparisons still work: `AWS::AccountId` → "${AccountId}" (the same account for every
resource of the stack), a resource's Ref → "${LogicalId}", a bucket's Ref → its name (explicit, or
the token CloudFormation's generated name stands for). The partition is taken as "aws": it only
appears inside ARNs and every ARN of one template shares it. A token is never *equal* to a
literal: `!Equals [!Ref AWS::Region, us-east-1]` is decided only per world (`cfn_worlds`).

Resolved inside a `World` (`in_world`), what deploy time decides becomes a choice the world
assigns: a condition over a deploy-time value, a parameter with `AllowedValues`. Outside one,
such values stay `Unresolved`, with a reason naming them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

from policies.sources.cfn_load import Template, transform_name
from policies.sources.cfn_worlds import OTHER, World

NO_VALUE = object()  # AWS::NoValue: the property is removed
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
MAX_ALLOWED_VALUES = 8  # a parameter with more allowed values is not enumerated
_GLOBAL_ARN_SERVICES = ("iam", "s3", "cloudfront", "route53")


class Unresolved:
    """A value that cannot be known before deployment, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unresolved({self.reason!r})"


def first_unresolved(value: Any) -> Unresolved | None:
    """The first Unresolved anywhere inside `value`, else None."""
    if isinstance(value, Unresolved):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            if (found := first_unresolved(item)) is not None:
                return found
    return None


def has_token(value: Any) -> bool:
    """Whether `value` holds a deploy-time token ("${Region}", "${LogicalId}", ...)."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_token(item) for item in value.values())
    if isinstance(value, list):
        return any(has_token(item) for item in value)
    return False


def _determined(value: Any) -> bool:
    return first_unresolved(value) is None and not has_token(value)


def _canonical(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, default=str)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not isinstance(value, Unresolved)


class Resolver:
    """Intrinsic-function evaluation for one template."""

    def __init__(self, template: Template, bucket_names: dict[str, str], exports: dict[str, Any] | None = None,
                 parent: Resolver | None = None) -> None:
        self.template = template
        self.bucket_names = bucket_names  # logical id → name for this template's buckets
        self.exports = exports or {}
        self.parent = parent
        self.unresolved_names: dict[str, Unresolved] = {}  # buckets whose BucketName cannot be resolved
        self.world: World | None = None
        self.holds: frozenset[str] = frozenset()  # conditions known true (the resource's own Condition)
        self._conditions: dict[str, bool | Unresolved] = {}
        self._depended: dict[str, bool] = {}  # condition -> whether its value came from a world's choice
        self._because: dict[str, list[str]] = {}  # condition -> why those choices are deploy-time ones
        self._shared: dict[str, Any] = {}  # per template, shared with every in_world copy (literal index)

    def in_world(self, world: World | None, holds: Iterable[str] = ()) -> Resolver:
        """This resolver deciding deploy-time choices as `world` assigns them (the parent's too),
        with the conditions in `holds` taken as true."""
        clone = copy.copy(self)
        clone.world, clone.holds = world, frozenset(holds)
        clone._conditions, clone._depended, clone._because = {}, {}, {}
        if self.parent is not None:
            clone.parent = self.parent.in_world(world)
        return clone

    # -- pseudo parameters, parameters, resources --------------------------------------------

    def pseudo(self, name: str) -> Any:
        template = self.template
        values = {
            # Tokens without colons, so ARNs built from them still split into their six parts.
            "AWS::AccountId": template.account or "${AccountId}",
            "AWS::Region": template.region or "${Region}",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": template.stack if template.stack_name_known else "${StackName}",
            "AWS::StackId": "${StackId}",
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        return values.get(name, Unresolved(f"pseudo parameter {name} is only known at deploy time"))

    def ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            return Unresolved(f"Ref to a non-string {name!r}")
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in (self.template.body.get("Parameters") or {}):
            if self.parent is not None and name in self.template.parent_parameters:
                return self.parent.resolve(self.template.parent_parameters[name])
            return self._parameter(name)
        if name in self.bucket_names:
            return self.bucket_names[name]
        if name in self.template.resources:
            return "${" + name + "}"
        return Unresolved(f"Ref to {name}, which the template does not define")

    def get_att(self, args: Any) -> Any:
        if isinstance(args, str):
            args = args.split(".", 1)
        if not (isinstance(args, list) and len(args) == 2):
            return Unresolved(f"malformed Fn::GetAtt {args!r}")
        logical_id, attribute = args[0], self.resolve(args[1])
        resource = self.template.resources.get(logical_id) if isinstance(logical_id, str) else None
        if not isinstance(resource, dict) or not isinstance(attribute, str):
            return Unresolved(f"Fn::GetAtt on {logical_id}, which the template does not define")
        if logical_id in self.bucket_names:
            name = self.bucket_names[logical_id]
            bucket_attributes = {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.pseudo('AWS::Region')}.amazonaws.com",
            }
            if attribute in bucket_attributes:
                return bucket_attributes[attribute]
        if attribute == "Arn":
            return self._arn(logical_id, str(resource.get("Type", "")))
        return "${" + f"{logical_id}.{attribute}" + "}"

    def _arn(self, logical_id: str, resource_type: str) -> str:
        """An ARN token with the right service, region and account (so account checks work)."""
        parts = resource_type.split("::")
        service = parts[1].lower() if len(parts) == 3 else "unknown"
        region = "" if service in _GLOBAL_ARN_SERVICES else self.pseudo("AWS::Region")
        kind = parts[2].lower() if len(parts) == 3 else "resource"
        return f"arn:aws:{service}:{region}:{self.pseudo('AWS::AccountId')}:{kind}/${{{logical_id}}}"

    def _parameter(self, name: str) -> Any:
        """A parameter's value: a world's choice among its AllowedValues, else Unresolved."""
        unresolved = Unresolved(f"parameter {name} is given at deploy time")
        options = self._allowed_values(name)
        if not options or self.world is None:
            return unresolved
        value = self.world.choose(("parameter", id(self.template), name), options, unresolved)
        if not isinstance(value, Unresolved):
            self.world.note(f"parameter {name}", value, [unresolved.reason])
        return value

    def _allowed_values(self, name: str) -> list[str]:
        spec = (self.template.body.get("Parameters") or {}).get(name)
        if not isinstance(spec, dict) or spec.get("Type", "String") not in ("String", "Number"):
            return []
        allowed = spec.get("AllowedValues")
        if not isinstance(allowed, list) or not 0 < len(allowed) <= MAX_ALLOWED_VALUES or not all(map(_scalar, allowed)):
            return []
        return list(dict.fromkeys(_text(value) for value in allowed))

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, name: Any) -> bool | Unresolved:
        """The value of condition `name`; inside a world, the fact is kept for reasons."""
        value = self._condition(name, ())
        if self.world is not None and isinstance(name, str) and self._depended.get(name) \
                and not isinstance(value, Unresolved):
            self.world.note(f"condition {name}", "true" if value else "false", self._because.get(name, []))
        return value

    def _condition(self, name: Any, _seen: tuple[str, ...]) -> bool | Unresolved:
        if not isinstance(name, str):
            return Unresolved(f"condition name {_short(name)} is not a string")
        if name in self.holds:
            return True
        if name in self._conditions:
            if self.world is not None and self._depended.get(name):
                self.world.consumed += 1  # an enclosing condition depends on the same choices
                self.world.trail.extend(self._because.get(name, []))
            return self._conditions[name]
        conditions = self.template.body.get("Conditions")
        definition = conditions.get(name) if isinstance(conditions, dict) else None
        before = self.world.consumed if self.world is not None else 0
        start = len(self.world.trail) if self.world is not None else 0
        if definition is None or name in _seen:
            result: bool | Unresolved = Unresolved(f"condition {name} is not defined")
        else:
            result = self._condition_value(definition, (*_seen, name))
        self._depended[name] = self.world is not None and self.world.consumed > before
        self._because[name] = self.world.trail[start:] if self.world is not None else []
        self._conditions[name] = result
        return result

    def _condition_value(self, definition: Any, seen: tuple[str, ...]) -> bool | Unresolved:
        if isinstance(definition, dict) and len(definition) == 1:
            (key, args), = definition.items()
            if key == "Condition":
                return self._condition(args, seen)
            if key == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
                return self._equals(args)
            if key in ("Fn::And", "Fn::Or", "Fn::Not") and isinstance(args, list):
                values = [self._condition_value(arg, seen) for arg in args]
                if not values or (key == "Fn::Not" and len(values) != 1):
                    return Unresolved(f"malformed {key} {_short(args)}")
                if key == "Fn::Not":
                    return values[0] if isinstance(values[0], Unresolved) else not values[0]
                decided = [v for v in values if not isinstance(v, Unresolved)]
                if key == "Fn::And" and False in decided:
                    return False
                if key == "Fn::Or" and True in decided:
                    return True
                if len(decided) < len(values):
                    return next(v for v in values if isinstance(v, Unresolved))
                return all(decided) if key == "Fn::And" else any(decided)
        value = self.resolve(definition)
        if isinstance(value, bool | str) and str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        return Unresolved(f"cannot evaluate condition {definition!r}")

    def _equals(self, args: list[Any]) -> bool | Unresolved:
        """Fn::Equals; a deploy-time side makes it a choice (of that side's value, among the
        literals the template compares it with, when the other side is one)."""
        left, right = self.resolve(args[0]), self.resolve(args[1])
        if _determined(left) and _determined(right):
            return _text(left) == _text(right)  # YAML `true` and "true" are one string to CloudFormation
        blocked = first_unresolved([left, right])
        if blocked is None and _text(left) == _text(right):
            return True  # the same token on both sides: the same deploy-time value
        reason = blocked or Unresolved(
            f"{' and '.join(_describe(raw) for raw, value in zip(args, (left, right), strict=True) if not _determined(value))}"
            " is only known at deploy time")
        if self.world is None:
            return reason
        known = [(raw, value) for raw, value in zip(args, (left, right), strict=True) if _determined(value)]
        if len(known) == 1 and _scalar(known[0][1]):
            other = args[1] if known[0][0] is args[0] else args[0]
            chosen = self._value_choice(other, reason)
            return chosen if isinstance(chosen, Unresolved) else chosen == _text(known[0][1])
        key = ("equals", id(self.template), *sorted((_canonical(args[0]), _canonical(args[1]))))
        return self.world.choose(key, [True, False], reason)

    def _value_choice(self, raw: Any, reason: Unresolved, fact: bool = False) -> Any:
        """The value a world gives the deploy-time expression `raw`: one of the literals the
        template compares it with or looks it up by in its Mappings, or OTHER (none of them).
        With `fact`, reasons name the value ("AWS::Region is eu-west-1"); else the condition."""
        assert self.world is not None
        options = [*sorted(self._compared_literals().get(_canonical(raw), set())), OTHER]
        chosen = self.world.choose(("value", id(self.template), _canonical(raw)), options, reason)
        if fact and not isinstance(chosen, Unresolved):
            self.world.note(_describe(raw), str(chosen), [reason.reason])
        return chosen

    def _compared_literals(self) -> dict[str, set[str]]:
        """Expression (canonical JSON) -> the literals it is compared with in the Conditions and
        the Mappings keys Fn::FindInMap looks it up among, anywhere in the template."""
        if "literals" not in self._shared:
            found: dict[str, set[str]] = {}
            mappings = self.template.body.get("Mappings")
            mappings = mappings if isinstance(mappings, dict) else {}
            stack = [self.template.body.get("Conditions"), self.template.body.get("Resources"),
                     self.template.body.get("Outputs")]
            while stack:
                node = stack.pop()
                if isinstance(node, list):
                    stack.extend(node)
                elif isinstance(node, dict):
                    args = node.get("Fn::Equals")
                    if len(node) == 1 and isinstance(args, list) and len(args) == 2:
                        for literal, other in (args, args[::-1]):
                            if _scalar(literal) and not _scalar(other):
                                found.setdefault(_canonical(other), set()).add(_text(literal))
                    lookup = node.get("Fn::FindInMap")
                    if len(node) == 1 and isinstance(lookup, list) and len(lookup) >= 3 and isinstance(lookup[0], str):
                        _map_keys(mappings.get(lookup[0]), lookup[1:3], found)
                    stack.extend(node.values())
            self._shared["literals"] = found
        return self._shared["literals"]

    # -- intrinsic functions -------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if "Fn::Transform" in value:
            # A macro (AWS::Include, or the user's own) replaces this mapping at deploy time,
            # merging its output with any keys beside it.
            return Unresolved(f"Fn::Transform {transform_name(value['Fn::Transform'])} is only evaluated at deploy time")
        if len(value) == 1:
            (key, args), = value.items()
            if key == "Ref":
                return self.ref(args)
            if key.startswith("Fn::"):
                return self._function(key, args)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, name: str, args: Any) -> Any:
        handler = {
            "Fn::GetAtt": self.get_att,
            "Fn::Join": self._join,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::ImportValue": self._import_value,
            "Fn::ToJsonString": lambda a: self._to_json(a),
            "Fn::Base64": lambda a: self.resolve(a),
        }.get(name)
        if handler is None:
            return Unresolved(f"{name} is only evaluated at deploy time")
        try:
            return handler(args)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            # Arguments of the wrong shape (e.g. `!Split 5`): CloudFormation would reject the
            # template, so nothing can be known about the value.
            return Unresolved(f"malformed {name} {_short(args)}")

    def _join(self, args: Any) -> Any:
        if not (isinstance(args, list) and len(args) == 2):
            return Unresolved(f"malformed Fn::Join {args!r}")
        delimiter, items = self.resolve(args[0]), self.resolve(args[1])
        if (blocked := first_unresolved([delimiter, items])) is not None:
            return blocked
        if not isinstance(items, list):
            return Unresolved("Fn::Join over a value that is not a list")
        return str(delimiter).join(_text(item) for item in items)

    def _sub(self, args: Any) -> Any:
        template, variables = (args, {}) if isinstance(args, str) else (args[0], args[1] if len(args) > 1 else {})
        variables = self.resolve(variables)
        if not isinstance(template, str) or not isinstance(variables, dict):
            return Unresolved(f"malformed Fn::Sub {_short(args)}")
        blocked: list[Unresolved] = []

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                value = self.get_att(name.split(".", 1))
            else:
                value = self.ref(name)
            if isinstance(value, Unresolved):
                blocked.append(value)
                return ""
            return _text(value)

        result = _SUB_VARIABLE.sub(replace, str(template))
        return blocked[0] if blocked else result

    def _if(self, args: Any) -> Any:
        if not (isinstance(args, list) and len(args) == 3):
            return Unresolved(f"malformed Fn::If {args!r}")
        chosen = self.condition(args[0])
        if isinstance(chosen, Unresolved):
            return Unresolved(f"Fn::If on condition {args[0]}: {chosen.reason}")
        return self.resolve(args[1] if chosen else args[2])

    def _select(self, args: Any) -> Any:
        if not (isinstance(args, list) and len(args) == 2):
            return Unresolved(f"malformed Fn::Select {_short(args)}")
        index, items = self.resolve(args[0]), self.resolve(args[1])
        if (blocked := first_unresolved([index, items])) is not None:
            return blocked
        if not isinstance(items, list):
            return Unresolved(f"Fn::Select from a value that is not a list: {_short(items)}")
        try:
            return items[int(index)]
        except (IndexError, ValueError, TypeError, KeyError):
            return Unresolved(f"Fn::Select index {index!r} out of range")

    def _split(self, args: Any) -> Any:
        if not (isinstance(args, list) and len(args) == 2):
            return Unresolved(f"malformed Fn::Split {_short(args)}")
        delimiter, text = self.resolve(args[0]), self.resolve(args[1])
        if (blocked := first_unresolved([delimiter, text])) is not None:
            return blocked
        if not (isinstance(delimiter, str) and isinstance(text, str)) or not delimiter:
            return Unresolved(f"malformed Fn::Split {_short(args)}")
        return text.split(delimiter)

    def _find_in_map(self, args: Any) -> Any:
        """Fn::FindInMap; a key only known at deploy time (AWS::Region, a parameter) is fine when
        every entry it could pick holds the same value; else, inside a world, the world picks the
        entry (a world whose key is in no entry cannot deploy: CloudFormation would fail)."""
        if not (isinstance(args, list) and len(args) in (3, 4)):  # 4: the language extension's DefaultValue
            return Unresolved(f"malformed Fn::FindInMap {_short(args)}")
        keys = [self.resolve(arg) for arg in args[:3]]
        agreed = self._find_in_map_all(args, keys)
        if self.world is None or not isinstance(agreed, _Differ):
            return agreed
        for index in (1, 2):
            if not _determined(keys[index]):
                chosen = self._value_choice(args[index], agreed, fact=True)
                if isinstance(chosen, Unresolved):
                    return chosen
                if chosen is OTHER:
                    self.world.impossible = True
                    return agreed
                keys[index] = chosen
        return self._find_in_map_all(args, keys)

    def _find_in_map_all(self, args: list[Any], keys: list[Any]) -> Any:
        if not _determined(keys[0]):
            return first_unresolved(keys[0]) or Unresolved(f"Fn::FindInMap on a map named by {_describe(args[0])}")
        default = args[3].get("DefaultValue", NO_VALUE) if len(args) == 4 and isinstance(args[3], dict) else NO_VALUE
        nodes: list[Any] = [self.template.body.get("Mappings") or {}]
        for key in keys:
            found: list[Any] = []
            for node in nodes:
                if not isinstance(node, dict):
                    continue
                if not _determined(key):
                    found.extend(node.values())
                elif str(_text(key)) in node:
                    found.append(node[str(_text(key))])
                elif default is not NO_VALUE:
                    return self.resolve(default)
                else:
                    return Unresolved(f"Fn::FindInMap: no entry {'/'.join(map(_text, keys))}")
            nodes = found
        values = [self.resolve(node) for node in nodes]
        distinct = {_canonical(value) for value in values if first_unresolved(value) is None}
        if len(distinct) == 1 and len(values) == len([v for v in values if first_unresolved(v) is None]):
            return values[0]
        deciding = [_describe(raw) for raw, key in zip(args[1:3], keys[1:], strict=True) if not _determined(key)]
        if not values:
            return Unresolved(f"Fn::FindInMap {_text(keys[0])}: no entry for any {', '.join(deciding)}")
        return _Differ(f"Fn::FindInMap {_text(keys[0])} picks by {' and '.join(deciding)}, which is only known at "
                       f"deploy time, and its entries differ")

    def _import_value(self, args: Any) -> Any:
        name = self.resolve(args)
        if isinstance(name, str) and name in self.exports:
            return self.exports[name]
        return Unresolved(f"Fn::ImportValue {name if isinstance(name, str) else '(computed)'} comes from another stack")

    def _to_json(self, args: Any) -> Any:
        value = self.resolve(args)
        if (blocked := first_unresolved(value)) is not None:
            return blocked
        return json.dumps(value)


class _Differ(Unresolved):
    """A lookup by a deploy-time key whose possible entries differ."""

    __slots__ = ()


def _map_keys(mapping: Any, keys: list[Any], found: dict[str, set[str]]) -> None:
    """Record, for each non-literal key expression of a FindInMap, the keys it could select."""
    levels: list[Any] = [mapping]
    for raw in keys:
        tables = [level for level in levels if isinstance(level, dict)]
        if _scalar(raw):
            levels = [table[str(raw)] for table in tables if str(raw) in table]
        else:
            found.setdefault(_canonical(raw), set()).update(str(key) for table in tables for key in table)
            levels = [value for table in tables for value in table.values()]


def _describe(raw: Any) -> str:
    """How a reason names a deploy-time expression: "AWS::Region", "parameter Env", or its text."""
    if isinstance(raw, dict) and list(raw) == ["Ref"] and isinstance(raw["Ref"], str):
        return raw["Ref"] if raw["Ref"].startswith("AWS::") else f"parameter {raw['Ref']}"
    return _short(raw, 60)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
