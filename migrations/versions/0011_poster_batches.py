"""poster batches: a row per request, the worker's job takes its id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'poster_batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=12), nullable=False),
        sa.Column('value', sa.String(length=32), nullable=True),
        sa.Column('region_id', sa.Integer(), nullable=True),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('office_id', sa.Integer(), nullable=True),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('template', sa.String(length=64), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('requested_by', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('inputs_hash', sa.String(length=40), nullable=True),
        sa.Column('file', sa.String(length=60), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                           name=op.f('ck_poster_batch_status_valid')),
        sa.CheckConstraint("scope IN ('office', 'department', 'region', 'all')",
                           name=op.f('ck_poster_batch_scope_valid')),
        sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_poster_batch_region_id_region')),
        sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                                name=op.f('fk_poster_batch_department_id_department')),
        sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_poster_batch_office_id_office')),
        sa.ForeignKeyConstraint(['requested_by'], ['user.id'], name=op.f('fk_poster_batch_requested_by_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_poster_batch')),
    )


def downgrade():
    op.drop_table('poster_batch')
