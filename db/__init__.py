"""Persistence: SQLAlchemy 2.x typed models, engine/session factories and Alembic migrations.

Nothing here imports Flask or commits; callers own the transaction.
"""
