"""Finding a stored rule-set version by hash prefix: the prefix is matched literally."""

from __future__ import annotations

import pytest

from workflow.errors import NotFound
from workflow.ruleset_admin import find_version


@pytest.mark.usefixtures("published")
@pytest.mark.parametrize("wildcards", ["______", "%%%%%%", "%", "_" * 64])
def test_underscore_and_percent_in_a_prefix_are_not_wildcards(session, wildcards):
    real = find_version(session, "pan-london-selection")
    assert find_version(session, "pan-london-selection", real.version[:6]).id == real.id
    prefix = wildcards if len(wildcards) >= 6 else real.version[:6] + wildcards
    with pytest.raises(NotFound) as caught:
        find_version(session, "pan-london-selection", prefix)
    assert caught.value.message == f"rule set pan-london-selection@{prefix} not found"


@pytest.mark.usefixtures("published")
def test_a_prefix_with_a_wildcard_in_the_middle_matches_nothing(session):
    real = find_version(session, "pan-london-selection")
    prefix = real.version[:3] + "_" + real.version[4:10]
    with pytest.raises(NotFound, match="not found"):
        find_version(session, "pan-london-selection", prefix)
