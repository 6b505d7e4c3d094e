"""Job YAML import is bounded: no alias expansion, no unbounded text (issue 12)."""

from __future__ import annotations

import pytest

from crmhub.core.errors import ConfigError
from crmhub.sync.spec import MAX_YAML_CHARS, JobSpec

JOB = "name: j\ndirection: inbound\nconnection: c\nremote_object: Account\nobject_type: account\n"


def test_given_plain_yaml_then_it_loads() -> None:
    assert JobSpec.from_yaml(JOB + "fields: [Id, Name]\n").fields == ["Id", "Name"]


def test_given_an_alias_bomb_then_it_is_refused_with_where_it_is() -> None:
    bomb = (
        'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    )
    with pytest.raises(
        ConfigError, match=r"aliases \(\*a\) are not accepted in job YAML \(line 7, column 8\)"
    ):
        JobSpec.from_yaml(JOB + bomb)


def test_given_a_text_over_the_limit_then_it_is_refused_before_parsing() -> None:
    with pytest.raises(ConfigError, match="at most 1,000,000"):
        JobSpec.from_yaml(JOB + "#" * MAX_YAML_CHARS)
