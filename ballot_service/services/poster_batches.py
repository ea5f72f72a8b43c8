"""Poster batches: who may print what, a batch as a row (models.PosterBatch) from request to
file, and the worker's part. services.posters draws; this is everything around it that the
admin area, the API and the command line share.

A request makes a row and queues the job `posters-<id>` (jobs.render_posters), which reloads the
row, draws the scope's offices (posters.render_batch: the same inputs are drawn once) and
records progress, the file and the outcome on the row. A request for what is already being
drawn gets that batch back. The row, not the RQ job, is what pages and the API read, so a
batch outlives Redis.
"""

import os
from dataclasses import dataclass

from flask import current_app
from rq import get_current_job
from sqlalchemy import false, select

from .. import jobs
from ..domain.access import Level, Place, Scope
from ..extensions import db
from ..models import Department, Office, PosterBatch, Region
from . import audit, posters, rounds
from .sheets import safe_name

ACTIVE = ("queued", "running")
MIMETYPES = {"pdf": "application/pdf", "zip": "application/zip"}


def poster_choices(scope: Scope) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """What a user may print: (scopes, departments, offices) as (value, label) lists."""
    offices_q = (select(Office).join(Department).where(Office.active, Department.active)
                 .order_by(Department.region_id, Department.sort_order, Department.id, Office.sort_order, Office.id))
    depts_q = select(Department).where(Department.active).order_by(Department.region_id, Department.sort_order,
                                                                    Department.id)
    if scope.level is Level.REGION:
        offices_q = offices_q.where(Department.region_id == scope.region_id)
        depts_q = depts_q.where(Department.region_id == scope.region_id)
    elif scope.level is Level.DEPARTMENT:
        offices_q = offices_q.where(Department.id == scope.department_id)
        depts_q = depts_q.where(Department.id == scope.department_id)
    elif scope.level is Level.OFFICES:
        offices_q = offices_q.where(Office.id.in_(scope.office_ids))
        depts_q = depts_q.where(false())
    scopes = [("office", "一个科室")]
    if scope.level is not Level.OFFICES:
        scopes.insert(0, ("department", "一个部门"))
    if scope.level in (Level.CITY, Level.REGION):
        scopes.insert(0, ("region" if scope.level is Level.REGION else "all",
                          "本区域全部科室" if scope.level is Level.REGION else "全部科室"))
    departments = [(d.code, d.name) for d in db.session.scalars(depts_q)]
    offices = [(o.code, f"{o.department.name} · {o.name}") for o in db.session.scalars(offices_q)]
    return scopes, departments, offices


def _located(kind: str, value: str | None) -> tuple[Place, str] | None:
    """Where a batch's scope sits and its name in words (None: no such office, department or
    region)."""
    if kind == "all":
        return Place(None), "全部科室"
    if kind == "region":
        region = db.session.scalar(select(Region).where(Region.code == value))
        return (Place(region.id), region.name) if region else None
    if kind == "department":
        dept = db.session.scalar(select(Department).where(Department.code == value))
        return (Place(dept.region_id, dept.id), dept.name) if dept else None
    if kind == "office":
        office = db.session.scalar(select(Office).where(Office.code == (value or "").strip().upper()))
        if office is None:
            return None
        return (Place(office.department.region_id, office.department_id, office.id),
                f"{office.department.name}-{office.name}")
    return None


def poster_place(kind: str, value: str | None) -> Place | None:
    """Where a poster batch's scope sits (None: no such office, department or region)."""
    located = _located(kind, value)
    return located[0] if located else None


def poster_covered(scope: Scope, place: Place | None) -> bool:
    """A batch is in scope when everything it prints is: a city-wide batch only for the city,
    a region's for that region, a department's for its region or the department itself."""
    if place is None:
        return False
    if place.region_id is None:
        return scope.level is Level.CITY
    if place.office_id is None and place.department_id is None:
        return scope.level is Level.CITY or (scope.level is Level.REGION and scope.region_id == place.region_id)
    if place.office_id is None:
        return scope.level is not Level.OFFICES and scope.covers(place)
    return scope.covers(place)


def batch_place(batch: PosterBatch) -> Place:
    return Place(batch.region_id, batch.department_id, batch.office_id)


def poster_region_code(scope: Scope) -> str | None:
    if scope.level is Level.REGION:
        region = db.session.get(Region, scope.region_id)
        return region.code if region else None
    return None


def template_choices() -> list[tuple[str, str]]:
    """(name, label) of every poster layout in qr_templates/."""
    choices = []
    for name in posters.template_names():
        try:
            choices.append((name, posters.load_template(name).get("label", name)))
        except posters.PosterError:
            continue  # a broken layout file is not offered
    return choices


# ---------------------------------------------------------------- the batch, from request to file


def request(scope: str, value: str | None, template_name: str, fmt: str, requested_by: int | None) -> PosterBatch:
    """A batch for the scope, queued for the worker; the one already queued or being drawn for the
    same scope, layout and format if there is one (queued again if Redis has lost its job).
    Raises posters.PosterError with a message for people (no such layout or format, nothing to
    print there). The caller commits; who asked is noted in the audit trail."""
    posters.load_template(template_name)  # refuse an unknown layout now, not in the worker
    if fmt not in posters.FORMATS:
        raise posters.PosterError(f"格式应为：{'、'.join(posters.FORMATS)}")
    posters.offices_in_scope(scope, value)  # refuses a scope with nothing to print
    place, label = _located(scope, value)
    value = None if scope == "all" else (value.strip().upper() if scope == "office" else value)
    same = db.session.scalar(select(PosterBatch).where(
        PosterBatch.scope == scope, PosterBatch.value.is_(None) if value is None else PosterBatch.value == value,
        PosterBatch.template == template_name, PosterBatch.format == fmt, PosterBatch.status.in_(ACTIVE)))
    if same is not None:
        jobs.render_posters.enqueue(same.id)  # its job again if Redis lost it (else a no-op)
        return same
    batch = PosterBatch(scope=scope, value=value, region_id=place.region_id, department_id=place.department_id,
                        office_id=place.office_id, label=label, template=template_name, format=fmt,
                        requested_by=requested_by, requested_at=rounds.utcnow(), status="queued", done=0, total=0)
    db.session.add(batch)
    db.session.flush()
    jobs.render_posters.enqueue(batch.id)
    audit.note("posters.render", f"poster_batch:{batch.id}", {"scope": scope, "value": value,
                                                                 "template": template_name, "format": fmt})
    return batch


def run(batch_id: int) -> str | None:
    """The worker's part: draw the batch, its progress on the row as it goes. On an error the row
    says what went wrong; it is marked failed once RQ has no retry left."""
    batch = db.session.get(PosterBatch, batch_id)
    if batch is None or batch.status == "done":
        return batch.file if batch else None
    batch.status, batch.error = "running", None
    db.session.commit()

    def progress(done: int, total: int) -> None:
        batch.done, batch.total = done, total
        db.session.commit()

    try:
        drawn = posters.render_batch(batch.scope, batch.value, batch.template, batch.format, current_app.config,
                                     progress)
    except Exception as error:
        db.session.rollback()
        job = get_current_job()
        batch.status = "queued" if job is not None and job.retries_left else "failed"
        batch.error = str(error) if isinstance(error, posters.PosterError) else "生成时出错，已记录，请稍后重试"
        db.session.commit()
        raise
    batch.status, batch.inputs_hash, batch.file = "done", drawn.key, os.path.basename(drawn.path)
    db.session.commit()
    return batch.file


@dataclass
class BatchStatus:
    id: int
    state: str  # queued, running, done or failed
    done: int
    total: int
    percent: int
    template: str
    format: str
    finished: bool  # done and its file is there to download
    failed: bool
    error: str | None
    path: str | None
    download_name: str


def status(batch: PosterBatch) -> BatchStatus:
    folder = os.path.join(current_app.config["MEDIA_ROOT"], "posters")
    path = os.path.join(folder, batch.file) if batch.file else None
    finished = batch.status == "done" and path is not None and os.path.exists(path)
    percent = 100 if finished else (min(99, batch.done * 100 // batch.total) if batch.total else 0)
    label = dict(template_choices()).get(batch.template, batch.template)
    return BatchStatus(batch.id, batch.status, batch.done, batch.total, percent, batch.template, batch.format,
                       finished, batch.status == "failed", batch.error, path if finished else None,
                       f"{safe_name(batch.label)}-{safe_name(label)}.{batch.format}")
