"""Database triggers keep `scheduler_state['members_revision']` current: any write that changes who may be due a
run (a member added, deleted, (de)activated, moved to another time zone or country; a run deleted) sets a new
revision in the same transaction, whoever wrote it — the ORM, a bulk statement or raw SQL. The planner
(storage/repo.py `plan_marks`) does not ask again for a group it planned in full while the revision stands.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 12:05:00
"""

from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SQLITE_BUMP = (
    "INSERT OR REPLACE INTO scheduler_state (key, value, at) "
    "VALUES ('members_revision', lower(hex(randomblob(16))), NULL);"
)
SQLITE_TRIGGERS = {
    "trg_member_insert_revision": "AFTER INSERT ON member",
    "trg_member_delete_revision": "AFTER DELETE ON member",
    "trg_member_update_revision": (
        "AFTER UPDATE OF active, timezone, country, created_at ON member FOR EACH ROW "
        "WHEN OLD.active IS NOT NEW.active OR OLD.timezone IS NOT NEW.timezone "
        "OR OLD.country IS NOT NEW.country OR OLD.created_at IS NOT NEW.created_at"
    ),
    "trg_run_delete_revision": "AFTER DELETE ON conversation_run",
}
PG_TRIGGERS = {
    # Statement-level: a sync that writes 10,000 members bumps once per statement, not once per row.
    "trg_member_write_revision": "AFTER INSERT OR DELETE ON member",
    "trg_member_update_revision": "AFTER UPDATE OF active, timezone, country, created_at ON member",
    "trg_run_delete_revision": "AFTER DELETE ON conversation_run",
}
PG_TABLES = {
    "trg_member_write_revision": "member",
    "trg_member_update_revision": "member",
    "trg_run_delete_revision": "conversation_run",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION flywheel_members_revision() RETURNS trigger AS $$ BEGIN "
            "INSERT INTO scheduler_state (key, value, at) "
            "VALUES ('members_revision', md5(random()::text || clock_timestamp()::text), NULL) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value; RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION flywheel_members_revision()")
    else:
        for name, when in SQLITE_TRIGGERS.items():
            each_row = "" if "FOR EACH ROW" in when else " FOR EACH ROW"
            op.execute(f"CREATE TRIGGER {name} {when}{each_row} BEGIN {SQLITE_BUMP} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in PG_TABLES.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS flywheel_members_revision()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
