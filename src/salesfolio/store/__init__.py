"""The app store: users, snapshots, assessments and the audit log.

SQLAlchemy; SQLite by default, PostgreSQL in production. Schema changes go through Alembic migrations in
``store/migrations``.
"""
