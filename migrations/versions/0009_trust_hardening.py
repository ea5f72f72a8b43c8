"""trust hardening: signing out ends every session; results know the ballots behind them; 纪检监察

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ROLES_BEFORE = "'coordinator', 'department_admin', 'hall_manager', 'auditor'"
ROLES_AFTER = ROLES_BEFORE + ", 'discipline'"

# The ballots behind each result already tallied (domain.visibility), as the tally counts them:
# a person's scored ratings; an office's ballots; a department's, its offices' results' ballots
# (the department they were tallied under); the round's, its departments'.
BALLOTS_BEHIND = [
    "UPDATE result SET ballots = scored WHERE subject_kind = 'person'",
    "UPDATE result SET ballots = (SELECT count(*) FROM ballot WHERE ballot.round_id = result.round_id "
    "AND ballot.office_id = result.subject_id) WHERE subject_kind = 'office'",
    "UPDATE result SET ballots = (SELECT coalesce(sum(o.ballots), 0) FROM result o WHERE o.round_id = result.round_id "
    "AND o.subject_kind = 'office' AND o.department_id = result.subject_id) WHERE subject_kind = 'department'",
    "UPDATE result SET ballots = (SELECT coalesce(sum(d.ballots), 0) FROM result d WHERE d.round_id = result.round_id "
    "AND d.subject_kind = 'department') WHERE subject_kind = 'region'",
]


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_constraint(op.f('ck_user_role_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_role_valid'), f"role IN ({ROLES_AFTER})")
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ballots', sa.Integer(), server_default='0', nullable=False))
    for statement in BALLOTS_BEHIND:
        op.execute(statement)


def downgrade():
    if op.get_bind().execute(sa.text("SELECT count(*) FROM \"user\" WHERE role = 'discipline'")).scalar():
        raise RuntimeError("请先停用并删除纪检监察账号再降级 (remove the discipline users first)")
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.drop_column('ballots')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_role_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_role_valid'), f"role IN ({ROLES_BEFORE})")
        batch_op.drop_column('session_epoch')
