"""Plugin step declarations."""

from __future__ import annotations

from typing import Any

import pytest

from otel_provlog._plan import Plan, plan_steps

DECLARED = {
    "creating": ["Launching instances", "Waiting for ssh"],
    "scaling": ["Launching instances"],
    "deleting": [],
}


def test_from_mapping_and_back() -> None:
    """A plan reads Sahara's mapping form and gives it back."""
    plan = Plan.from_mapping(DECLARED)
    assert plan.steps("creating") == ("Launching instances", "Waiting for ssh")
    assert plan.as_dict() == DECLARED


def test_missing_step_types_are_empty() -> None:
    """A step type the plugin did not declare has no steps."""
    assert Plan.from_mapping({"creating": ["A"]}).steps("deleting") == ()


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (None, None),
        (Plan(scaling=("A",)), ("A",)),
        ({"scaling": ["B", "C"]}, ("B", "C")),
        (["D"], ("D",)),
        (("E", "F"), ("E", "F")),
    ],
)
def test_plan_steps_accepts_every_form(plan: Any, expected: Any) -> None:
    """plan_steps reads a Plan, its mapping form, or step names directly."""
    assert plan_steps(plan, "scaling") == expected


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ({"resizing": ["A"]}, "unknown step type"),
        ({"creating": "Launch"}, "sequence of step names"),
        ({"creating": ["A", ""]}, "non-empty strings"),
        ({"creating": ["A", 3]}, "non-empty strings"),
        (["creating"], "mapping"),
    ],
)
def test_malformed_plans_raise_value_error(steps: Any, message: str) -> None:
    """A malformed declaration is a set-up error with a clear message."""
    with pytest.raises(ValueError, match=message):
        Plan.from_mapping(steps)


def test_steps_rejects_unknown_type() -> None:
    """Asking for an unknown step type is an error."""
    with pytest.raises(ValueError, match="unknown step type"):
        Plan().steps("growing")
