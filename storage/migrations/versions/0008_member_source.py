"""member.source: who vouches for a person (the organisation file, a platform's directory)

Someone taken off the organisation file is deactivated at the next start; for that the file's members must be told
apart from those a directory or a command added.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 22:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('source')
