"""Rule sets as YAML: ``load_rules_yaml`` (every error with its 1-based line) and ``dump_rules_yaml``.

Loading composes the node graph first so every value keeps its position: an error found on the plain
data by ``RuleSet.from_dict`` carries the path of the value, which is mapped back to its node's line.
"""

from __future__ import annotations

from typing import Any

import yaml

from app.domain.bot.rules import Path, RulesError, RuleSet

MAX_YAML_CHARS = 5_000_000  # far above 5,000 rules; a bigger upload is a mistake, not a rule set

# libyaml's parser and emitter when PyYAML was built with it: ~7x faster on a 1,000-rule file.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_rules_yaml(text: str) -> RuleSet:
    """Parse and check a rules document; raises ``RulesError`` (reason, line, rule id) on any problem."""
    if len(text) > MAX_YAML_CHARS:
        raise RulesError(f"the file is larger than {MAX_YAML_CHARS:,} characters")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RulesError("the file is empty", line=1)
        _check_nodes(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = f"invalid YAML: {exc.problem or exc.context or 'cannot parse'}"
        raise RulesError(reason, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise RulesError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    try:
        return RuleSet.from_dict(data)
    except RulesError as exc:
        raise exc.at_line(_line_of(node, exc.path)) from None


def dump_rules_yaml(rules: RuleSet) -> str:
    """The rule set as a YAML document that ``load_rules_yaml`` reads back to an equal ``RuleSet``."""
    return yaml.dump(
        rules.to_dict(),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
        default_flow_style=False,
    )


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Writes multi-line answers as ``|`` blocks so an exported file stays readable and editable."""


def _represent_str(dumper: yaml.BaseDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _check_nodes(root: yaml.Node) -> None:
    """Refuse what PyYAML would silently accept: a key given twice, anchors/aliases (a YAML bomb)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise RulesError("anchors and aliases (&, *) are not supported", line=node.start_mark.line + 1)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[Any] = set()
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in keys:
                        raise RulesError(
                            f"the key {key_node.value!r} is given twice", line=key_node.start_mark.line + 1
                        )
                    keys.add(key_node.value)
                stack.extend((key_node, value_node))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _line_of(root: yaml.Node, path: Path) -> int:
    """The 1-based line of the deepest node on ``path`` (a missing key points at its parent)."""
    node = root
    for index, part in enumerate(path):
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    # The last step points at the key: its line is where the reader looks.
                    child = key_node if index == len(path) - 1 else value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
