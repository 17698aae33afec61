"""replies between a manager and a report, the numbers people reply with, and upward feedback kept apart from its
authors (issue 16, parts 1 and 2)

`upward_feedback` has no member id, no time and a random key, and on SQLite no rowid, so nothing in the database
orders or links a text to whoever wrote it; `upward_respondent` (who answered, to count them) has no time either.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-02 14:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import storage.types


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'answer_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('recipient_id', sa.Integer(), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('about', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('about_id', sa.Integer(), nullable=False),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True),
        sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('in_reply_to', sa.Integer(), nullable=True),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column('thanks', sa.Boolean(), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['member.id'], ),
        sa.ForeignKeyConstraint(['recipient_id'], ['member.id'], ),
        sa.ForeignKeyConstraint(['subject_id'], ['member.id'], ),
        sa.ForeignKeyConstraint(['in_reply_to'], ['answer_reply.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('answer_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_reply_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_reply_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_reply_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_reply_created_at'), ['created_at'], unique=False)
    op.create_table(
        'reply_ref',
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
        sa.PrimaryKeyConstraint('member_id', 'number'),
        sa.UniqueConstraint('member_id', 'target', name='uq_reply_ref_target'),
    )
    op.create_table(
        'upward_feedback',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=False),
        sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.ForeignKeyConstraint(['manager_id'], ['member.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table('upward_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upward_feedback_manager_id'), ['manager_id'], unique=False)
    op.create_table(
        'upward_respondent',
        sa.Column('manager_id', sa.Integer(), nullable=False),
        sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['manager_id'], ['member.id'], ),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
        sa.PrimaryKeyConstraint('manager_id', 'period', 'member_id'),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table('upward_respondent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upward_respondent_member_id'), ['member_id'], unique=False)
    op.create_table(
        'upward_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=False),
        sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['manager_id'], ['member.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('upward_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upward_answer_manager_id'), ['manager_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('upward_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upward_answer_manager_id'))
    op.drop_table('upward_answer')
    with op.batch_alter_table('upward_respondent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upward_respondent_member_id'))
    op.drop_table('upward_respondent')
    with op.batch_alter_table('upward_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upward_feedback_manager_id'))
    op.drop_table('upward_feedback')
    op.drop_table('reply_ref')
    with op.batch_alter_table('answer_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_reply_created_at'))
        batch_op.drop_index(batch_op.f('ix_answer_reply_subject_id'))
        batch_op.drop_index(batch_op.f('ix_answer_reply_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_answer_reply_author_id'))
    op.drop_table('answer_reply')
