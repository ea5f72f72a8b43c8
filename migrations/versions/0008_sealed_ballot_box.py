"""the sealed ballot box: ciphertext ballots until the tally, round keys outside the database

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:40:00

Rounds running when this ships keep their old guarantees until they end: the upgrade refuses
while any round is open or closed but not yet tallied (upgrade between rounds), so no round is
ever half under the old rules and half under the new. Tallied rounds' ballots are plaintext
already; they are marked unsealed, and the sealed box starts with the next round.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM round WHERE status IN ('open', 'closed')")).scalar():
        raise RuntimeError("升级前请先完成进行中和已结束未统计的评价轮次：新的密封票箱从下一轮开始启用 "
                           "(tally the open and closed rounds first; the sealed ballot box starts with the next round)")
    op.create_table('seal_key',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_seal_key_round_id_round')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seal_key'))
    )
    with op.batch_alter_table('seal_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seal_key_round_id'), ['round_id'], unique=False)
    op.create_table('sealed_ballot',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('seal_key_id', sa.String(length=32), nullable=False),
    sa.Column('box', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_sealed_ballot_round_id_round')),
    sa.ForeignKeyConstraint(['seal_key_id'], ['seal_key.id'], name=op.f('fk_sealed_ballot_seal_key_id_seal_key')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sealed_ballot'))
    )
    with op.batch_alter_table('sealed_ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sealed_ballot_round_id'), ['round_id'], unique=False)
    # Only open and closed rounds have counted paper forms waiting, and there are none now.
    with op.batch_alter_table('counted_paper_ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counted_paper_ballot_round_id'))
    op.drop_table('counted_paper_ballot')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_column('day')
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('public_key', sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column('sealed_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('unsealed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_column('secret')
    op.execute("UPDATE round SET unsealed = true WHERE status IN ('tallied', 'published')")
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.alter_column('unsealed', server_default=None)
    # Typings are sealed from now on; only open and closed rounds had any.
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.drop_column('ratings')
        batch_op.add_column(sa.Column('box', sa.LargeBinary(), nullable=False))
    # The plaintext tables are written by the unsealing alone, which checks every rating against
    # the frozen roster itself; their per-row foreign-key triggers cost it more than the rows.
    with op.batch_alter_table('rating_tag', schema=None) as batch_op:
        batch_op.drop_constraint('fk_rating_tag_ballot_id_rating', type_='foreignkey')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_constraint('fk_rating_ballot_id_ballot', type_='foreignkey')
        batch_op.drop_constraint('fk_rating_person_id_person', type_='foreignkey')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_constraint('uq_ballot_id_round_id_office_id', type_='unique')


def downgrade():
    # Sealed ballots and typings cannot be turned back into rows here (the key store holds the
    # keys): a downgrade with any left would lose them, so it refuses.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM round WHERE status IN ('open', 'closed')")).scalar():
        raise RuntimeError("降级前请先完成进行中和已结束未统计的评价轮次 (their keys are in the key store, not the database)")
    if bind.execute(sa.text("SELECT (SELECT count(*) FROM sealed_ballot) + (SELECT count(*) FROM paper_entry)")).scalar():
        raise RuntimeError("还有未统计的密封选票或纸质选票录入，不能降级 (sealed ballots or typings are waiting for their tally)")
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_ballot_id_round_id_office_id', ['id', 'round_id', 'office_id'])
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_rating_person_id_person', 'person', ['person_id'], ['id'])
        batch_op.create_foreign_key('fk_rating_ballot_id_ballot', 'ballot', ['ballot_id', 'round_id', 'office_id'],
                                    ['id', 'round_id', 'office_id'])
    with op.batch_alter_table('rating_tag', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_rating_tag_ballot_id_rating', 'rating', ['ballot_id', 'person_id'],
                                    ['ballot_id', 'person_id'])
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.drop_column('box')
        batch_op.add_column(sa.Column('ratings', sa.JSON(), nullable=False))
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret', sa.LargeBinary(length=64), nullable=True))
        batch_op.drop_column('unsealed')
        batch_op.drop_column('sealed_size')
        batch_op.drop_column('public_key')
        batch_op.drop_column('key_id')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('day', sa.Date(), nullable=False, server_default=sa.func.current_date()))
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.alter_column('day', server_default=None)
    op.create_table('counted_paper_ballot',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_counted_paper_ballot_office_id_office')),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_counted_paper_ballot_round_id_round')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counted_paper_ballot'))
    )
    with op.batch_alter_table('counted_paper_ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counted_paper_ballot_round_id'), ['round_id'], unique=False)
    with op.batch_alter_table('sealed_ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sealed_ballot_round_id'))
    op.drop_table('sealed_ballot')
    with op.batch_alter_table('seal_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seal_key_round_id'))
    op.drop_table('seal_key')
