"""Resolving CloudFormation intrinsics far enough to judge a resource, and no further.

What cannot be known before deployment (a parameter's value, an imported output, an AZ list)
resolves to `Unresolved(reason)`; the template source then marks the field that contains it
unknown, so a policy needing it says UNKNOWN instead of guessing.

Values that are unknown but *consistent* inside one deployment resolve to stable tokens, so
comparisons still work: `AWS::AccountId` → "${AccountId}" (the same account for every
resource of the stack), a resource's Ref → "${LogicalId}", a bucket's Ref → its name (explicit, or
the token CloudFormation's generated name stands for). The partition is taken as "aws": it only
appears inside ARNs and every ARN of one template shares it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from policies.sources.cfn_load import Template

NO_VALUE = object()  # AWS::NoValue: the property is removed
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
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


class Resolver:
    """Intrinsic-function evaluation for one template."""

    def __init__(self, template: Template, bucket_names: dict[str, str], exports: dict[str, Any] | None = None,
                 parent: Resolver | None = None) -> None:
        self.template = template
        self.bucket_names = bucket_names  # logical id → name for this template's buckets
        self.exports = exports or {}
        self.parent = parent
        self.unresolved_names: dict[str, Unresolved] = {}  # buckets whose BucketName cannot be resolved
        self._conditions: dict[str, bool | Unresolved] = {}

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
            return Unresolved(f"parameter {name} is given at deploy time")
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

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, name: Any, _seen: tuple[str, ...] = ()) -> bool | Unresolved:
        if not isinstance(name, str):
            return Unresolved(f"condition name {_short(name)} is not a string")
        if name in self._conditions:
            return self._conditions[name]
        conditions = self.template.body.get("Conditions")
        definition = conditions.get(name) if isinstance(conditions, dict) else None
        if definition is None or name in _seen:
            result: bool | Unresolved = Unresolved(f"condition {name} is not defined")
        else:
            result = self._condition_value(definition, (*_seen, name))
        self._conditions[name] = result
        return result

    def _condition_value(self, definition: Any, seen: tuple[str, ...]) -> bool | Unresolved:
        if isinstance(definition, dict) and len(definition) == 1:
            (key, args), = definition.items()
            if key == "Condition":
                return self.condition(args, seen)
            if key == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
                left, right = self.resolve(args[0]), self.resolve(args[1])
                if (blocked := first_unresolved([left, right])) is not None:
                    return blocked
                return _text(left) == _text(right)  # YAML `true` and "true" are one string to CloudFormation
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

    # -- intrinsic functions -------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
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
        if not (isinstance(args, list) and len(args) in (3, 4)):  # 4: the language extension's DefaultValue
            return Unresolved(f"malformed Fn::FindInMap {_short(args)}")
        keys = [self.resolve(arg) for arg in args[:3]]
        if (blocked := first_unresolved(keys)) is not None:
            return blocked
        value: Any = self.template.body.get("Mappings") or {}
        for key in keys:
            if not isinstance(value, dict) or str(key) not in value:
                return Unresolved(f"Fn::FindInMap: no entry {'/'.join(map(str, keys))}")
            value = value[str(key)]
        return self.resolve(value)

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


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
