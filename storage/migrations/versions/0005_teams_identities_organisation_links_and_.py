"""teams identities, organisation links and teams conversations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 20:19:39.677448
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisation_links',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_organisation_links_org_id_organisations')),
    sa.PrimaryKeyConstraint('platform', 'external_id', name=op.f('pk_organisation_links'))
    )
    with op.batch_alter_table('organisation_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_links_org_id'), ['org_id'], unique=False)

    op.create_table('teams_conversations',
    sa.Column('conversation_id', sa.String(length=256), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('service_url', sa.String(length=300), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_teams_conversations_org_id_organisations')),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_teams_conversations'))
    )
    with op.batch_alter_table('teams_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_conversations_org_id'), ['org_id'], unique=False)

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('teams_user_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('aad_object_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('teams_conversation_id', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('teams_service_url', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('teams_tenant_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_people_org_id_aad_object_id'), ['org_id', 'aad_object_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_people_org_id_teams_user_id'), ['org_id', 'teams_user_id'])



def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_people_org_id_teams_user_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_people_org_id_aad_object_id'), type_='unique')
        batch_op.drop_column('teams_tenant_id')
        batch_op.drop_column('teams_service_url')
        batch_op.drop_column('teams_conversation_id')
        batch_op.drop_column('aad_object_id')
        batch_op.drop_column('teams_user_id')

    with op.batch_alter_table('teams_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_conversations_org_id'))

    op.drop_table('teams_conversations')
    with op.batch_alter_table('organisation_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_links_org_id'))

    op.drop_table('organisation_links')
