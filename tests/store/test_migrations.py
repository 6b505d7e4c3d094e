from sqlalchemy import inspect

from crmhub.store import migrate
from crmhub.store.database import Database


def test_given_an_empty_database_when_upgraded_then_it_is_at_head_with_every_table(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert migrate.current_revision(db) is None
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert {"object_type", "attribute", "record", "link", "connection", "audit_event"} <= tables
    finally:
        db.dispose()


def test_given_head_when_downgraded_to_base_and_up_again_then_schema_is_back(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db)
        migrate.downgrade(db, "base")
        assert "record" not in inspect(db.engine).get_table_names()
        migrate.upgrade(db)
        assert "record" in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_on_postgresql_values_are_jsonb(postgres_schema_url: str) -> None:
    db = Database(postgres_schema_url)
    try:
        migrate.upgrade(db)
        columns = {c["name"]: c["type"] for c in inspect(db.engine).get_columns("record")}
        assert type(columns["values"]).__name__ == "JSONB"
    finally:
        db.dispose()


def test_the_migrations_create_exactly_what_the_models_declare(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from crmhub.store.models import Base

    db = Database(database_url)
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
    finally:
        db.dispose()
