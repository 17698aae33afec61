"""people control their own data: flags on answers, deletion requests, erased accounts, audit record parts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import storage.types


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('part', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.create_table(
        'answer_flag',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=True),
        sa.Column('hint', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
        sa.Column('acknowledged_at', storage.types.UTCDateTime(), nullable=True),
        sa.Column('acknowledged_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
        sa.ForeignKeyConstraint(['run_id'], ['conversation_run.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('answer_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_flag_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_flag_manager_id'), ['manager_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_flag_run_id'), ['run_id'], unique=False)
    op.create_table(
        'deletion_request',
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('expires_at', storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
        sa.PrimaryKeyConstraint('member_id'),
    )
    op.create_table(
        'erased_account',
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('erased_at', storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('fingerprint'),
    )
    with op.batch_alter_table('erased_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erased_account_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('erased_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erased_account_member_id'))
    op.drop_table('erased_account')
    op.drop_table('deletion_request')
    with op.batch_alter_table('answer_flag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_flag_run_id'))
        batch_op.drop_index(batch_op.f('ix_answer_flag_manager_id'))
        batch_op.drop_index(batch_op.f('ix_answer_flag_member_id'))
    op.drop_table('answer_flag')
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.drop_column('part')
