"""conversation_run (flow, period, member_id): the planner reads one period's runs of a flow without walking every
period ever stored (the unique key leads with member_id after flow)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 11:15:00
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_run_flow_period_member', 'conversation_run', ['flow', 'period', 'member_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_run_flow_period_member', table_name='conversation_run')
