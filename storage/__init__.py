"""All SQL: SQLAlchemy Core tables, the Repository implementation, Alembic migrations."""
