"""Rule sets as validated data: load YAML -> validate -> compile -> evaluate (side-effect free).

Public surface: :func:`rules.loader.load_document`, :class:`rules.engine.RuleEngine`,
:class:`rules.decisions.Decision`. Nothing here imports the database or Flask; only
``rules/engine.py`` imports durable-rules.
"""
