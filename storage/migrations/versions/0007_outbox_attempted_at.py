"""outbox.attempted_at: a send may have happened

chat.postMessage has no idempotency key, so a message Slack accepted but not yet recorded as sent would be
sent again after a crash. The sender now commits attempted_at before it sends; a row claimed with it set
(a dead process, or a timeout after Slack may have posted) is looked up in Slack before it is sent again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 01:45:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('attempted_at')
