"""Offender managers' tasks: working-day deadlines, tasks raised from rule decisions,
compliance events, reminders, escalation and e-mail delivery (see ``docs/tasks.md``).

Kept import-free so ``workflow.facts`` can import :mod:`workflow.tasks.facts` cheaply.
"""
