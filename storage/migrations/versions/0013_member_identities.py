"""member_identity: a member's chat accounts as rows (platform, id), not one member column per platform

Every member's Slack user id (with its team) and Feishu open_id is copied into a row; the columns go. A new platform
is then new rows, never a schema change. Downgrade puts the Slack and Feishu accounts back into their columns.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# The member columns that held accounts: (column, platform, its workspace column).
ACCOUNTS = (('slack_user_id', 'slack', 'slack_team_id'), ('feishu_open_id', 'feishu', None))
DROPPED = ('slack_user_id', 'slack_team_id', 'feishu_open_id')


def upgrade() -> None:
    op.create_table(
        'member_identity',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
        sa.PrimaryKeyConstraint('id'),
        # The lookup of every inbound message and outbound send: (platform, id) → member.
        sa.UniqueConstraint('platform', 'external_id', name='uq_member_identity_account'),
        sa.UniqueConstraint('member_id', 'platform', name='uq_member_identity_member_platform'),
    )
    for column, platform, workspace in ACCOUNTS:
        op.execute(
            sa.text(
                f"INSERT INTO member_identity (member_id, platform, external_id, workspace) "
                f"SELECT id, :platform, {column}, {workspace or 'NULL'} FROM member WHERE {column} IS NOT NULL "
                f"ORDER BY id"
            ).bindparams(platform=platform)
        )
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_member_without(DROPPED)
    else:
        for column in DROPPED:
            op.drop_column('member', column)  # its unique constraint goes with it


def _rebuild_sqlite_member_without(dropped: tuple[str, ...]) -> None:
    """SQLite cannot drop a UNIQUE column, and a batch copy of `member` (copy, drop, rename) fails the foreign keys
    of every row that points at a member. So: keep a plain copy, drop `member` with the foreign-key checks deferred
    to the commit, create it anew and put the rows back, which satisfies the deferred checks again."""
    conn = op.get_bind()
    old = sa.Table('member', sa.MetaData(), autoload_with=conn)
    kept = [c for c in old.columns if c.name not in dropped]
    indexes = [
        (ix.name, [c.name for c in ix.columns], bool(ix.unique))
        for ix in old.indexes
        if ix.name and not any(c.name in dropped for c in ix.columns)
    ]
    names = ', '.join(c.name for c in kept)
    conn.exec_driver_sql('PRAGMA defer_foreign_keys=ON')  # until this transaction commits (then off again)
    conn.exec_driver_sql('CREATE TABLE _member_0013 AS SELECT * FROM member')
    op.drop_table('member')
    op.create_table(
        'member',
        *(sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key) for c in kept),
        sa.ForeignKeyConstraint(['manager_id'], ['member.id'], ),
    )
    for name, columns, unique in indexes:
        op.create_index(name, 'member', columns, unique=unique)
    conn.exec_driver_sql(f'INSERT INTO member ({names}) SELECT {names} FROM _member_0013')
    conn.exec_driver_sql('DROP TABLE _member_0013')


def downgrade() -> None:
    # Plain ALTER TABLE … ADD COLUMN (a batch copy of `member` fails its foreign keys on SQLite); uniqueness comes back
    # as unique indexes, which SQLite can add to an existing table.
    op.add_column('member', sa.Column('slack_user_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('member', sa.Column('slack_team_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('member', sa.Column('feishu_open_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
    for column, platform, workspace in ACCOUNTS:
        pairs = [(column, 'external_id')] + ([(workspace, 'workspace')] if workspace else [])
        for target, source in pairs:
            op.execute(
                sa.text(
                    f"UPDATE member SET {target} = (SELECT i.{source} FROM member_identity i "
                    f"WHERE i.member_id = member.id AND i.platform = :platform)"
                ).bindparams(platform=platform)
            )
    op.create_index('uq_member_slack_user_id', 'member', ['slack_user_id'], unique=True)
    op.create_index('uq_member_feishu_open_id', 'member', ['feishu_open_id'], unique=True)
    op.drop_table('member_identity')
