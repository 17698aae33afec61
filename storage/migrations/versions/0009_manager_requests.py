"""manager requests: reporting lines typed in chat change only when the member accepts

`manager_request` holds each request; `member.manager_source` says who set someone's line (the organisation file and
the Feishu directory own theirs); `audit_record.part` (0010) says which request or change a
record is about.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import storage.types


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('manager_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('manager_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('decided_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['manager_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('manager_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manager_request_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_manager_request_manager_id'), ['manager_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_manager_request_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_manager_request_status'), ['status'], unique=False)
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manager_source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    # Lines already stored: the file's and the directory's are theirs (both are written again at the next start or
    # sync anyway); any other line was typed in chat before consent existed.
    op.execute("UPDATE member SET manager_source = CASE WHEN source IN ('file', 'feishu') THEN source "
               "ELSE 'chat' END WHERE manager_id IS NOT NULL")


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `member` fails its foreign keys on SQLite.
    op.drop_column('member', 'manager_source')
    with op.batch_alter_table('manager_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manager_request_status'))
        batch_op.drop_index(batch_op.f('ix_manager_request_member_id'))
        batch_op.drop_index(batch_op.f('ix_manager_request_manager_id'))
        batch_op.drop_index(batch_op.f('ix_manager_request_expires_at'))
    op.drop_table('manager_request')
