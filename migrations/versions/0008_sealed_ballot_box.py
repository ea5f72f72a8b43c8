"""the sealed ballot box: ciphertext ballots until the tally, round keys outside the database

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:40:00

Rounds open when this ships would have to move their secret out of the database mid-round, so
the upgrade waits for them: it refuses while a round is open (close it, or upgrade between
rounds). Closed rounds lose their secret column now instead of at their tally (A2, earlier);
their ballots are already plaintext and are counted as before.
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
    if bind.execute(sa.text("SELECT count(*) FROM round WHERE status = 'open'")).scalar():
        raise RuntimeError("升级前请先结束进行中的评价轮次：新的密封票箱从下一轮开始启用 "
                           "(close the open round first; the sealed ballot box starts with the next round)")
    op.create_table('sealed_ballot',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('box', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_sealed_ballot_round_id_round')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sealed_ballot'))
    )
    with op.batch_alter_table('sealed_ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sealed_ballot_round_id'), ['round_id'], unique=False)
    # Counted paper forms still waiting to become ballots become ballots now, as the drain did.
    op.execute("INSERT INTO ballot (id, round_id, office_id, day, channel) "
               "SELECT id, round_id, office_id, CURRENT_DATE, 'paper' FROM counted_paper_ballot")
    import json

    rows = bind.execute(sa.text("SELECT id, round_id, office_id, ratings FROM counted_paper_ballot")).all()
    for ballot_id, round_id, office_id, ratings in rows:
        ratings = json.loads(ratings) if isinstance(ratings, str) else ratings
        for person_id, rating in ratings.items():
            bind.execute(sa.text("INSERT INTO rating (ballot_id, round_id, office_id, person_id, level, note) "
                                 "VALUES (:b, :r, :o, :p, :l, :n)"),
                         dict(b=ballot_id, r=round_id, o=office_id, p=int(person_id), l=rating["level"],
                              n=rating["note"]))
            for tag in rating["tags"]:
                bind.execute(sa.text("INSERT INTO rating_tag (ballot_id, person_id, tag) VALUES (:b, :p, :t)"),
                             dict(b=ballot_id, p=int(person_id), t=tag))
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
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.alter_column('unsealed', server_default=None)


def downgrade():
    # Sealed ballots cannot be turned back into rows here (the worker holds the keys): a
    # downgrade with any left would lose them, so it refuses.
    if op.get_bind().execute(sa.text("SELECT count(*) FROM sealed_ballot")).scalar():
        raise RuntimeError("密封票箱中还有未统计的选票，不能降级 (sealed ballots are waiting for their tally)")
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
