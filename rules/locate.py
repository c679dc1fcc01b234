"""Where a problem's path (``rules.0.when.all.1.gte``) is in a YAML document's text.

Pure: composes the text with PyYAML's safe composer (no objects are built) and walks the
node tree by the path's keys and list indexes. Used to show validation problems against
the line of the document they concern.
"""

from __future__ import annotations

import re

import yaml

_LINE = re.compile(r"^line (\d+), column \d+$")


def _child(node, key: str):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return k, v
        return None, None
    if isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
        item = node.value[int(key)]
        return item, item
    return None, None


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of ``path`` in ``text``: the deepest part of the path that exists
    (a missing field points at its parent); ``line N, column M`` paths (YAML syntax errors)
    give N. None when the text does not parse or the path names nothing in it."""
    match = _LINE.match(path or "")
    if match:
        return int(match.group(1))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = None
    for part in (path or "").split("."):
        if part in ("", "document"):
            continue
        key_node, node = _child(node, part)
        if key_node is None:
            break
        line = key_node.start_mark.line + 1
    return line
