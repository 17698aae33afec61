"""member.country: whose public holidays a member keeps (ISO 3166 code; empty: the organisation's default)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `member` fails its foreign keys on SQLite.
    op.drop_column('member', 'country')
