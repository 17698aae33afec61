"""development_action: one record for every development action, whatever it came from; retro actions move in

A retro's actions were a table of their own (`retro_action`). They are now development actions like those from
the monthly review, the quarterly talk, a 1:1, `/action add` or a manager's suggestion: one kind of thing,
followed up the same way. Existing rows move over with their status, times and `shared_at` (the retro anonymity
rule: unshared, nobody but the author sees them), and `retro_action` goes. Downgrading moves the retro ones back
(dropped ones as done: closed either way); actions from other sources have nowhere to go and are lost.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 14:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import storage.types


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('development_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source_run_id', sa.Integer(), nullable=True),
    sa.Column('retro_id', sa.Integer(), nullable=True),
    sa.Column('source_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('suggested_by', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('opened_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('closed_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('shared_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['retro_id'], ['retro.id'], ),
    sa.ForeignKeyConstraint(['source_run_id'], ['conversation_run.id'], ),
    sa.ForeignKeyConstraint(['suggested_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('development_action', schema=None) as batch_op:
        batch_op.create_index('ix_development_action_owner_status', ['owner_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_development_action_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_development_action_retro_id'), ['retro_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_development_action_source_run_id'), ['source_run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_development_action_status'), ['status'], unique=False)

    op.create_table('development_action_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['development_action.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('development_action_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_development_action_note_action_id'), ['action_id'], unique=False)

    op.execute(
        "INSERT INTO development_action (owner_id, text, source, source_run_id, retro_id, status, created_at, "
        "opened_at, closed_at, shared_at) "
        "SELECT owner_id, text, 'retro', author_run_id, retro_id, status, created_at, created_at, done_at, shared_at "
        "FROM retro_action ORDER BY id"
    )

    with op.batch_alter_table('retro_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retro_action_status'))
        batch_op.drop_index(batch_op.f('ix_retro_action_retro_id'))
        batch_op.drop_index(batch_op.f('ix_retro_action_owner_id'))
        batch_op.drop_index(batch_op.f('ix_retro_action_author_run_id'))
    op.drop_table('retro_action')


def downgrade() -> None:
    op.create_table('retro_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('retro_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('author_run_id', sa.Integer(), nullable=True),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('done_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('shared_at', storage.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['author_run_id'], ['conversation_run.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['retro_id'], ['retro.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('retro_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retro_action_author_run_id'), ['author_run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retro_action_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retro_action_retro_id'), ['retro_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retro_action_status'), ['status'], unique=False)
    op.execute(
        "INSERT INTO retro_action (retro_id, owner_id, author_run_id, text, status, created_at, done_at, shared_at) "
        "SELECT retro_id, owner_id, source_run_id, text, CASE WHEN status = 'open' THEN 'open' ELSE 'done' END, "
        "created_at, closed_at, shared_at FROM development_action "
        "WHERE source = 'retro' AND retro_id IS NOT NULL AND status IN ('open', 'done', 'dropped') ORDER BY id"
    )

    with op.batch_alter_table('development_action_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_development_action_note_action_id'))
    op.drop_table('development_action_note')
    with op.batch_alter_table('development_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_development_action_status'))
        batch_op.drop_index(batch_op.f('ix_development_action_source_run_id'))
        batch_op.drop_index(batch_op.f('ix_development_action_retro_id'))
        batch_op.drop_index(batch_op.f('ix_development_action_owner_id'))
        batch_op.drop_index('ix_development_action_owner_status')
    op.drop_table('development_action')
