"""YAML for files people hand us: safe types only, and bounded alias expansion.

A few hundred bytes of nested aliases ("billion laughs") expand into a structure that takes
minutes and gigabytes to walk. Bucketwatch's own formats never need many aliases, so a document
using more than `max_aliases` is refused with a one-line error instead of being walked.
"""

from __future__ import annotations

from typing import Any

import yaml

from detectors.common.errors import UserError

MAX_ALIASES = 100


class _CountingLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses while composing the document."""

    max_aliases = MAX_ALIASES

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases = getattr(self, "aliases", 0) + 1
            if self.aliases > self.max_aliases:
                raise _TooManyAliases(self.max_aliases)
        return super().compose_node(parent, index)


class _TooManyAliases(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def load_yaml(text: str, where: str, max_aliases: int = MAX_ALIASES) -> Any:
    """The document in `text`; `where` (a file name) starts every error message."""
    loader = _CountingLoader(text)
    loader.max_aliases = max_aliases
    try:
        return loader.get_single_data()
    except _TooManyAliases as exc:
        raise UserError(f"{where}: uses more than {exc.limit} YAML aliases (*name); "
                        "expand them, or this may be an alias bomb") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise UserError(f"{where} is not valid YAML{position}: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise UserError(f"{where}: nested too deeply to read") from None
    finally:
        loader.dispose()
