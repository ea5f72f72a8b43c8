"""the coordinator's review: consequences confirmed or struck with a reason; rounds cancelled

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

STATUSES_BEFORE = "'draft', 'open', 'closed', 'tallied', 'published'"
STATUSES_AFTER = STATUSES_BEFORE + ", 'cancelled'"


def upgrade():
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_round_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_round_status_valid'), f"status IN ({STATUSES_AFTER})")
    with op.batch_alter_table('consequence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_sample', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('decision', sa.String(length=12), server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_consequence_decision_valid'),
                                         "decision IN ('pending', 'confirmed', 'struck')")
    op.execute("UPDATE consequence SET low_sample = coalesce((SELECT r.low_sample FROM result r "
               "WHERE r.round_id = consequence.round_id AND r.subject_kind = consequence.subject_kind "
               "AND r.subject_id = consequence.subject_id), false)")
    # The ledger is written at publication now, of confirmed cards: unpublished rounds' go.
    op.execute("DELETE FROM ledger_entry WHERE round_id IN (SELECT id FROM round WHERE status <> 'published')")
    # What was published before the review existed was published as the tally derived it.
    op.execute("UPDATE consequence SET decision = 'confirmed', reason = '审核功能上线前已发布' "
               "WHERE round_id IN (SELECT id FROM round WHERE status = 'published')")


def downgrade():
    if op.get_bind().execute(sa.text("SELECT count(*) FROM round WHERE status = 'cancelled'")).scalar():
        raise RuntimeError("请先删除已取消的评价轮次再降级 (remove the cancelled rounds first)")
    with op.batch_alter_table('consequence', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consequence_decision_valid'), type_='check')
        for column in ('decided_at', 'decided_by', 'reason', 'decision', 'low_sample'):
            batch_op.drop_column(column)
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_round_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_round_status_valid'), f"status IN ({STATUSES_BEFORE})")
