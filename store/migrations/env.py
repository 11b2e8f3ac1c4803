"""Alembic's environment for the store: always run from `store.migrate`, never from a command line
with an alembic.ini.

`store.migrate` hands over an open connection (already inside the transaction, and holding the
migration lock) as `config.attributes["connection"]`; this file only points Alembic at it.
"""

from alembic import context

from store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "store migrations run through store.migrate (store.open_database runs them on start), "
        "not through the alembic command"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)

with context.begin_transaction():
    context.run_migrations()
