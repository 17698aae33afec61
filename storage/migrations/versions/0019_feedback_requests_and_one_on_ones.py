"""feedback requests and 1:1s: `feedback_request` (the colleagues' answers are `feedback` runs), `one_on_one` (a
pair's cadence) and `one_on_one_item` (agenda topics, notes — shared or private — and action items)

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-02 14:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import storage.types


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('closes_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('closed_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('shared_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['requester_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_request_requester_id'), ['requester_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_request_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_request_closes_at'), ['closes_at'], unique=False)
    op.create_table('one_on_one',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manager_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('proposed_by', sa.Integer(), nullable=False),
    sa.Column('cadence', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('at_time', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('decided_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('next_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('agenda_for', storage.types.UTCDateTime(), nullable=True),
    sa.Column('last_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['manager_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['proposed_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('one_on_one', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_one_on_one_manager_id'), ['manager_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_on_one_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_on_one_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_on_one_next_at'), ['next_at'], unique=False)
    op.create_table('one_on_one_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('one_on_one_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('done_by', sa.Integer(), nullable=True),
    sa.Column('action_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['one_on_one_id'], ['one_on_one.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('one_on_one_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_one_on_one_item_one_on_one_id'), ['one_on_one_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_one_on_one_item_author_id'), ['author_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('one_on_one_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_one_on_one_item_author_id'))
        batch_op.drop_index(batch_op.f('ix_one_on_one_item_one_on_one_id'))
    op.drop_table('one_on_one_item')
    with op.batch_alter_table('one_on_one', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_one_on_one_next_at'))
        batch_op.drop_index(batch_op.f('ix_one_on_one_status'))
        batch_op.drop_index(batch_op.f('ix_one_on_one_member_id'))
        batch_op.drop_index(batch_op.f('ix_one_on_one_manager_id'))
    op.drop_table('one_on_one')
    with op.batch_alter_table('feedback_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_request_closes_at'))
        batch_op.drop_index(batch_op.f('ix_feedback_request_status'))
        batch_op.drop_index(batch_op.f('ix_feedback_request_requester_id'))
    op.drop_table('feedback_request')
