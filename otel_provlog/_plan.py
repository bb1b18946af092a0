"""A plugin's declared provisioning steps, for each step type.

A plugin declares what it will do once, as a mapping from step type to step names::

    PLAN = Plan.from_mapping({
        "creating": ["Launching instances", "Waiting for ssh", "Configure instances"],
        "scaling": ["Launching instances", "Configure instances"],
        "deleting": ["Deleting instances"],
    })

and hands it to :func:`otel_provlog.operation`, which records the names of the operation's
step type on the operation span (``provisioning.plan``), so the whole plan is known as soon
as the operation starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from otel_provlog import attributes

__all__ = ["Plan", "PlanLike", "check_step_type", "plan_steps"]


def _names(value: object, *, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{where}: expected a sequence of step names, got {value!r}")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: step names must be non-empty strings, got {name!r}")
    return names


def check_step_type(step_type: object) -> str:
    """Return ``step_type`` if it is one of :data:`~otel_provlog.attributes.STEP_TYPES`.

    Raises:
        ValueError: naming the accepted values.
    """
    if step_type not in attributes.STEP_TYPES:
        accepted = ", ".join(attributes.STEP_TYPES)
        raise ValueError(f"unknown step type {step_type!r}: expected one of {accepted}")
    return str(step_type)


@dataclass(frozen=True, slots=True)
class Plan:
    """The step names a plugin declares for each step type, in the order they run."""

    creating: tuple[str, ...] = ()
    """Steps of an operation creating a cluster."""
    scaling: tuple[str, ...] = ()
    """Steps of an operation scaling a cluster."""
    deleting: tuple[str, ...] = ()
    """Steps of an operation deleting a cluster."""

    @classmethod
    def from_mapping(cls, steps: Mapping[str, Sequence[str]]) -> Plan:
        """Build a plan from ``{"creating": [...], "scaling": [...], "deleting": [...]}``.

        Missing step types have no declared steps.

        Raises:
            ValueError: for an unknown step type or anything but a list of names.
        """
        if not isinstance(steps, Mapping):
            raise ValueError(f"a plan is a mapping of step type to step names, got {steps!r}")
        values: dict[str, tuple[str, ...]] = {}
        for step_type, names in steps.items():
            values[check_step_type(step_type)] = _names(names, where=f"plan[{step_type!r}]")
        return cls(**values)

    def steps(self, step_type: str) -> tuple[str, ...]:
        """Return the declared step names of ``step_type``.

        Raises:
            ValueError: for an unknown step type.
        """
        return tuple(getattr(self, check_step_type(step_type)))

    def as_dict(self) -> dict[str, list[str]]:
        """Return the plan in the mapping form :meth:`from_mapping` reads."""
        return {step_type: list(self.steps(step_type)) for step_type in attributes.STEP_TYPES}


PlanLike = Plan | Mapping[str, Sequence[str]] | Sequence[str]
"""What an operation accepts as its plan: a :class:`Plan`, its mapping form, or the step
names of this operation directly."""


def plan_steps(plan: PlanLike | None, step_type: str) -> tuple[str, ...] | None:
    """Return the step names ``plan`` declares for ``step_type`` (None without a plan).

    Raises:
        ValueError: for a malformed plan or an unknown step type.
    """
    if plan is None:
        return None
    if isinstance(plan, Plan):
        return plan.steps(step_type)
    if isinstance(plan, Mapping):
        return Plan.from_mapping(plan).steps(step_type)
    return _names(plan, where="plan")
