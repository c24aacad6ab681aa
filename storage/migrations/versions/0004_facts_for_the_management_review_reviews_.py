"""facts for the management review, reviews and decisions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 19:57:24.177581
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('finding', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('corrective_action', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_audit_findings_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_findings'))
    )
    with op.batch_alter_table('audit_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_findings_org_id'), ['org_id'], unique=False)

    op.create_table('context_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_context_notes_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_notes'))
    )
    with op.batch_alter_table('context_notes', schema=None) as batch_op:
        batch_op.create_index('ix_context_notes_org_year', ['org_id', 'year'], unique=False)

    op.create_table('control_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('routine', sa.String(length=100), nullable=False),
    sa.Column('checked', sa.Text(), nullable=True),
    sa.Column('method', sa.Text(), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_control_results_org_id_organisations')),
    sa.ForeignKeyConstraint(['updated_by'], ['people.id'], name=op.f('fk_control_results_updated_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_results')),
    sa.UniqueConstraint('org_id', 'year', 'routine', name=op.f('uq_control_results_org_id_year_routine'))
    )
    op.create_table('dpo_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=32), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('recommendations', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_dpo_findings_org_id_organisations')),
    sa.ForeignKeyConstraint(['updated_by'], ['people.id'], name=op.f('fk_dpo_findings_updated_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dpo_findings')),
    sa.UniqueConstraint('org_id', 'year', 'area', name=op.f('uq_dpo_findings_org_id_year_area'))
    )
    op.create_table('improvement_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('triage_note', sa.Text(), nullable=True),
    sa.Column('triaged_by', sa.Integer(), nullable=True),
    sa.Column('triaged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_improvement_proposals_org_id_organisations')),
    sa.ForeignKeyConstraint(['submitted_by'], ['people.id'], name=op.f('fk_improvement_proposals_submitted_by_people')),
    sa.ForeignKeyConstraint(['triaged_by'], ['people.id'], name=op.f('fk_improvement_proposals_triaged_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_improvement_proposals')),
    sa.UniqueConstraint('org_id', 'source_key', name=op.f('uq_improvement_proposals_org_id_source_key'))
    )
    with op.batch_alter_table('improvement_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_improvement_proposals_org_id'), ['org_id'], unique=False)

    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('markdown', sa.Text(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('docx', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['people.id'], name=op.f('fk_reviews_created_by_people')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_reviews_org_id_organisations')),
    sa.ForeignKeyConstraint(['published_by'], ['people.id'], name=op.f('fk_reviews_published_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews'))
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_org_year', ['org_id', 'year'], unique=False)

    op.create_table('risk_analyses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.String(length=50), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('processes_with_risks', sa.Integer(), nullable=True),
    sa.Column('action_plans', sa.Integer(), nullable=True),
    sa.Column('continuity_plans', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_risk_analyses_org_id_organisations')),
    sa.ForeignKeyConstraint(['updated_by'], ['people.id'], name=op.f('fk_risk_analyses_updated_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_analyses')),
    sa.UniqueConstraint('org_id', 'year', name=op.f('uq_risk_analyses_org_id_year'))
    )
    op.create_table('review_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_review_decisions_org_id_organisations')),
    sa.ForeignKeyConstraint(['recorded_by'], ['people.id'], name=op.f('fk_review_decisions_recorded_by_people')),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], name=op.f('fk_review_decisions_review_id_reviews')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions')),
    sa.UniqueConstraint('source_key', name=op.f('uq_review_decisions_source_key'))
    )
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decisions_review_id'), ['review_id'], unique=False)

    op.create_table('plan_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['review_decisions.id'], name=op.f('fk_plan_activities_decision_id_review_decisions')),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_plan_activities_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_activities'))
    )
    with op.batch_alter_table('plan_activities', schema=None) as batch_op:
        batch_op.create_index('ix_plan_activities_org_year', ['org_id', 'year'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('plan_activities', schema=None) as batch_op:
        batch_op.drop_index('ix_plan_activities_org_year')

    op.drop_table('plan_activities')
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_decisions_review_id'))

    op.drop_table('review_decisions')
    op.drop_table('risk_analyses')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_org_year')

    op.drop_table('reviews')
    with op.batch_alter_table('improvement_proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_improvement_proposals_org_id'))

    op.drop_table('improvement_proposals')
    op.drop_table('dpo_findings')
    op.drop_table('control_results')
    with op.batch_alter_table('context_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_context_notes_org_year')

    op.drop_table('context_notes')
    with op.batch_alter_table('audit_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_findings_org_id'))

    op.drop_table('audit_findings')
