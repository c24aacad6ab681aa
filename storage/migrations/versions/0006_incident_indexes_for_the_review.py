"""incident indexes for the management review

The review counts a year's incidents by status and severity, and lists lessons of the cases closed in the
year. (org_id, reported_at, status, severity) answers the counts from the index alone and serves every query
the old (org_id, reported_at) served, so it replaces it; (org_id, closed_at) finds the year's closed cases.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:30:00
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_incidents_org_reported_status', 'incidents', ['org_id', 'reported_at', 'status', 'severity'],
                    unique=False)
    op.create_index('ix_incidents_org_closed', 'incidents', ['org_id', 'closed_at'], unique=False)
    op.drop_index('ix_incidents_org_reported', table_name='incidents')


def downgrade() -> None:
    op.create_index('ix_incidents_org_reported', 'incidents', ['org_id', 'reported_at'], unique=False)
    op.drop_index('ix_incidents_org_closed', table_name='incidents')
    op.drop_index('ix_incidents_org_reported_status', table_name='incidents')
