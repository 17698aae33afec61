"""retro_action.shared_at: when the anonymity rule let a retro action out; withheld anonymous retros

Until now an anonymous retro with fewer than three respondents hid its summary, but its actions still reached the
owners' check-ins and their managers' digests. Actions now follow up only once shared. Existing data: actions of
retros whose summary was shown are shared as of the summary; anonymous retros summarised below three respondents
become `withheld`, and their actions stay private.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:30:00
"""
from alembic import op
import sqlalchemy as sa
import storage.types


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD_MINIMUM = 3  # what the summary used before `retro.anonymous_min` existed


def upgrade() -> None:
    with op.batch_alter_table('retro_action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shared_at', storage.types.UTCDateTime(), nullable=True))
    conn = op.get_bind()
    retros = conn.execute(sa.text("SELECT id, anonymous FROM retro WHERE status = 'summarised'")).all()
    for retro_id, anonymous in retros:
        respondents = conn.execute(sa.text(
            "SELECT count(DISTINCT a.run_id) FROM answer a JOIN conversation_run r ON r.id = a.run_id "
            "WHERE r.flow = 'retro' AND r.period = :period"), {"period": f"retro-{retro_id}"}).scalar() or 0
        if anonymous and respondents < OLD_MINIMUM:
            conn.execute(sa.text("UPDATE retro SET status = 'withheld' WHERE id = :id"), {"id": retro_id})
        else:
            conn.execute(sa.text("UPDATE retro_action SET shared_at = (SELECT summarised_at FROM retro "
                                 "WHERE retro.id = retro_action.retro_id) WHERE retro_id = :id"), {"id": retro_id})


def downgrade() -> None:
    op.execute("UPDATE retro SET status = 'summarised' WHERE status = 'withheld'")
    with op.batch_alter_table('retro_action', schema=None) as batch_op:
        batch_op.drop_column('shared_at')
