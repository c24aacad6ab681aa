"""training campaigns, information assets and classification

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:39:58.333252
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('information_owner_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('supplier', sa.String(length=200), nullable=True),
    sa.Column('personal_data', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('special_categories', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('ropa_reference', sa.String(length=200), nullable=True),
    sa.Column('continuity_relevant', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('next_review', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_assets_department_id_departments')),
    sa.ForeignKeyConstraint(['information_owner_id'], ['people.id'], name=op.f('fk_assets_information_owner_id_people')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_assets_org_id_organisations')),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_assets_owner_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assets')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_assets_org_id_name'))
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assets_owner_id'), ['owner_id'], unique=False)

    op.create_table('classification_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_classification_rounds_org_id_organisations')),
    sa.ForeignKeyConstraint(['started_by'], ['people.id'], name=op.f('fk_classification_rounds_started_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classification_rounds'))
    )
    op.create_table('training_campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('courses', sa.JSON(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('joiner_days', sa.Integer(), nullable=False),
    sa.Column('remind_every_days', sa.Integer(), nullable=False),
    sa.Column('max_reminders', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_training_campaigns_org_id_organisations')),
    sa.ForeignKeyConstraint(['started_by'], ['people.id'], name=op.f('fk_training_campaigns_started_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_campaigns')),
    sa.UniqueConstraint('org_id', 'year', name=op.f('uq_training_campaigns_org_id_year'))
    )
    op.create_table('classifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('confidentiality', sa.Integer(), nullable=False),
    sa.Column('integrity', sa.Integer(), nullable=False),
    sa.Column('availability', sa.Integer(), nullable=False),
    sa.Column('classified_on', sa.Date(), nullable=False),
    sa.Column('classified_by', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=100), nullable=True),
    sa.Column('method_version', sa.String(length=50), nullable=True),
    sa.Column('next_review', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_classifications_asset_id_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['classified_by'], ['people.id'], name=op.f('fk_classifications_classified_by_people')),
    sa.ForeignKeyConstraint(['round_id'], ['classification_rounds.id'], name=op.f('fk_classifications_round_id_classification_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classifications'))
    )
    with op.batch_alter_table('classifications', schema=None) as batch_op:
        batch_op.create_index('ix_classifications_asset', ['asset_id', 'classified_on'], unique=False)

    op.create_table('continuity_plans',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('has_plan', sa.Boolean(), nullable=False),
    sa.Column('last_exercised', sa.Date(), nullable=True),
    sa.Column('next_exercise_due', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_continuity_plans_asset_id_assets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('asset_id', name=op.f('pk_continuity_plans'))
    )
    op.create_table('round_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('next_reminder_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_round_requests_asset_id_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_round_requests_owner_id_people')),
    sa.ForeignKeyConstraint(['round_id'], ['classification_rounds.id'], name=op.f('fk_round_requests_round_id_classification_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_round_requests')),
    sa.UniqueConstraint('round_id', 'asset_id', name=op.f('uq_round_requests_round_id_asset_id'))
    )
    with op.batch_alter_table('round_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_requests_asset_id'), ['asset_id'], unique=False)

    op.create_table('training_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('exemption_reason', sa.Text(), nullable=True),
    sa.Column('exemption_decided_by', sa.Integer(), nullable=True),
    sa.Column('exemption_rejected', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('next_reminder_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('manager_told_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['training_campaigns.id'], name=op.f('fk_training_assignments_campaign_id_training_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_training_assignments_department_id_departments')),
    sa.ForeignKeyConstraint(['exemption_decided_by'], ['people.id'], name=op.f('fk_training_assignments_exemption_decided_by_people')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_training_assignments_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_assignments')),
    sa.UniqueConstraint('campaign_id', 'person_id', name=op.f('uq_training_assignments_campaign_id_person_id'))
    )
    with op.batch_alter_table('training_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_assignments_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_training_due', ['status', 'next_reminder_at'], unique=False)

    op.create_table('action_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('classification_id', sa.Integer(), nullable=True),
    sa.Column('requirement', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_action_items_asset_id_assets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['classification_id'], ['classifications.id'], name=op.f('fk_action_items_classification_id_classifications')),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_action_items_owner_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_items'))
    )
    with op.batch_alter_table('action_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_items_asset_id'), ['asset_id'], unique=False)

    op.create_table('training_completions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('course', sa.String(length=200), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['training_assignments.id'], name=op.f('fk_training_completions_assignment_id_training_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['people.id'], name=op.f('fk_training_completions_recorded_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_completions'))
    )
    with op.batch_alter_table('training_completions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_completions_assignment_id'), ['assignment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('training_completions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_completions_assignment_id'))

    op.drop_table('training_completions')
    with op.batch_alter_table('action_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_items_asset_id'))

    op.drop_table('action_items')
    with op.batch_alter_table('training_assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_training_due')
        batch_op.drop_index(batch_op.f('ix_training_assignments_person_id'))

    op.drop_table('training_assignments')
    with op.batch_alter_table('round_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_requests_asset_id'))

    op.drop_table('round_requests')
    op.drop_table('continuity_plans')
    with op.batch_alter_table('classifications', schema=None) as batch_op:
        batch_op.drop_index('ix_classifications_asset')

    op.drop_table('classifications')
    op.drop_table('training_campaigns')
    op.drop_table('classification_rounds')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_owner_id'))

    op.drop_table('assets')
