"""for the tally: ratings carry their ballot's round and office; results' department without a foreign key

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 00:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_ballot_id_round_id_office_id'),
                                          ['id', 'round_id', 'office_id'])
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('office_id', sa.Integer(), nullable=True))
    op.execute("UPDATE rating SET "
               "round_id = (SELECT ballot.round_id FROM ballot WHERE ballot.id = rating.ballot_id), "
               "office_id = (SELECT ballot.office_id FROM ballot WHERE ballot.id = rating.ballot_id)")
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.alter_column('round_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('office_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint('fk_rating_ballot_id_ballot', type_='foreignkey')
        batch_op.create_foreign_key('fk_rating_ballot_id_ballot', 'ballot', ['ballot_id', 'round_id', 'office_id'],
                                    ['id', 'round_id', 'office_id'])
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.drop_constraint('fk_result_department_id_department', type_='foreignkey')
        batch_op.drop_index('ix_result_round_id')  # the unique (round_id, subject_kind, subject_id) serves
    if op.get_bind().dialect.name == 'postgresql':
        # The tally groups a round's ratings by office and person. Without this the planner
        # multiplies the two columns' distinct counts, expects ~13 times too many groups and
        # picks a sorted, JIT-compiled plan that is half again as slow.
        op.execute("CREATE STATISTICS rating_office_person (ndistinct) ON office_id, person_id FROM rating")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP STATISTICS IF EXISTS rating_office_person")
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.create_index('ix_result_round_id', ['round_id'], unique=False)
        batch_op.create_foreign_key('fk_result_department_id_department', 'department', ['department_id'], ['id'])
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_constraint('fk_rating_ballot_id_ballot', type_='foreignkey')
        batch_op.create_foreign_key('fk_rating_ballot_id_ballot', 'ballot', ['ballot_id'], ['id'])
        batch_op.drop_column('office_id')
        batch_op.drop_column('round_id')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_ballot_id_round_id_office_id'), type_='unique')
