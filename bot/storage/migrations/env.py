"""Alembic's environment: runs on the connection `bot.storage.schema` hands it, already locked."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from bot.storage import tables  # noqa: F401 - registers the tables on SQLModel.metadata

# Always online, on a connection the caller opened inside its serialising transaction: two
# processes upgrading one database at once must queue, not race (see bot/storage/schema.py).
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `signoff db upgrade`, not the alembic command")
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
