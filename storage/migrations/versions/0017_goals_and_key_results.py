"""goals, key results and the comments on them (issue 15, the quarterly talk and goals)

A goal belongs to a member (personal) or to a manager's team (team), for one quarter; it may align to a goal one
level up. Its key results carry their latest value; its comments are the manager's and the member's words while
it is made. Nothing existing changes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 14:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import storage.types


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('goal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('quarter', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('aligned_to', sa.Integer(), nullable=True),
    sa.Column('member_agreed', sa.Boolean(), nullable=False),
    sa.Column('manager_agreed', sa.Boolean(), nullable=False),
    sa.Column('source_run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('agreed_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['aligned_to'], ['goal.id'], ),
    sa.ForeignKeyConstraint(['source_run_id'], ['conversation_run.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner_id', 'scope', 'quarter', 'number', name='uq_goal_owner_quarter')
    )
    with op.batch_alter_table('goal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_quarter'), ['quarter'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_aligned_to'), ['aligned_to'], unique=False)

    op.create_table('key_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('goal_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('start', sa.Float(), nullable=True),
    sa.Column('target', sa.Float(), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('current', sa.Float(), nullable=True),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('learning', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('updated_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('key_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_result_goal_id'), ['goal_id'], unique=False)

    op.create_table('goal_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('goal_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['goal_id'], ['goal.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('goal_comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_comment_goal_id'), ['goal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_comment_author_id'), ['author_id'], unique=False)


def downgrade() -> None:
    op.drop_table('goal_comment')
    op.drop_table('key_result')
    op.drop_table('goal')
