"""directory, roles and incident follow-up

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:29:06.849156
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_departments_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_departments_org_id_name'))
    )
    op.create_table('breach_records',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('nature', sa.JSON(), nullable=False),
    sa.Column('subject_categories', sa.Text(), nullable=True),
    sa.Column('subjects_approx', sa.BigInteger(), nullable=True),
    sa.Column('records_approx', sa.BigInteger(), nullable=True),
    sa.Column('special_categories', sa.String(length=8), nullable=True),
    sa.Column('consequences', sa.Text(), nullable=True),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('notify_imy', sa.String(length=8), nullable=True),
    sa.Column('notify_reason', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('imy_reference', sa.String(length=100), nullable=True),
    sa.Column('inform_subjects', sa.String(length=8), nullable=True),
    sa.Column('inform_reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_breach_records_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_breach_records'))
    )
    op.create_table('incident_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_incident_events_actor_id_people')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_events_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_events'))
    )
    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.create_index('ix_incident_events_incident', ['incident_id', 'id'], unique=False)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('handler_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('severity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('close_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cause', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('measures', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('lessons', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('serious_work_env', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('awv_reported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_incidents_handler_id'), ['handler_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_incidents_department_id_departments'), 'departments', ['department_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_incidents_handler_id_people'), 'people', ['handler_id'], ['id'])

    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('manager_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('employment', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('start_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('in_hr_file', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_people_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_manager_id'), ['manager_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_people_org_id_email'), ['org_id', 'email'])
        batch_op.create_foreign_key(batch_op.f('fk_people_department_id_departments'), 'departments', ['department_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_people_manager_id_people'), 'people', ['manager_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_people_manager_id_people'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_people_department_id_departments'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_people_org_id_email'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_people_manager_id'))
        batch_op.drop_index(batch_op.f('ix_people_department_id'))
        batch_op.drop_column('deactivated_at')
        batch_op.drop_column('in_hr_file')
        batch_op.drop_column('active')
        batch_op.drop_column('start_date')
        batch_op.drop_column('employment')
        batch_op.drop_column('manager_id')
        batch_op.drop_column('department_id')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_incidents_handler_id_people'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_incidents_department_id_departments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_incidents_handler_id'))
        batch_op.drop_column('awv_reported_at')
        batch_op.drop_column('serious_work_env')
        batch_op.drop_column('lessons')
        batch_op.drop_column('measures')
        batch_op.drop_column('cause')
        batch_op.drop_column('close_reason')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('last_activity_at')
        batch_op.drop_column('severity')
        batch_op.drop_column('handler_id')
        batch_op.drop_column('department_id')

    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_events_incident')

    op.drop_table('incident_events')
    op.drop_table('breach_records')
    op.drop_table('departments')
