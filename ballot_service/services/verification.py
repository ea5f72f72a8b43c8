"""What anyone can check of a published round: its level counts, under a digest of their own, and
a recomputation of every published score and grade from them (`flask verify`).

The counts document holds, for every subject the public is shown (k ballots behind it, and not a
complement that would rebuild a hidden one: services.results.hidden_results), its ratings per
level and its published score and grade, with the rules that turn one into the other (levels and
points, grade bands, how a department is averaged) and the version of the tally they come from.
Whole ballots are never published: a rating pattern over many people is a signature.

A department's score is the mean of its people's scores: it is recomputed where every one of its
people is in the document, and said to be not recomputable where one is hidden; likewise the
round's, over its departments.
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from ..domain import scoring
from ..domain import tally as rules_tally
from ..domain.visibility import Audience
from ..extensions import db
from ..models import Result, Round, RoundRoster
from .results import current_run, hidden_results, k_of


def counts_document(round_: Round) -> dict:
    """The round's published level counts (see the module's docstring), as plain JSON values."""
    run = current_run(round_.id)
    rows = db.session.scalars(select(Result).where(Result.round_id == round_.id)
                              .order_by(Result.subject_kind, Result.subject_id)).all()
    hidden = hidden_results(round_, Audience.PUBLIC)
    for department_id in sorted({r.subject_id for r in rows if r.subject_kind == "department"}):
        hidden |= hidden_results(round_, Audience.PUBLIC, department_id)
    members: dict[int, set[int]] = {}
    person_department = {r.subject_id: r.department_id for r in rows if r.subject_kind == "person"}
    for (person_id,) in db.session.execute(select(RoundRoster.person_id).where(RoundRoster.round_id == round_.id)):
        members.setdefault(person_department[person_id], set()).add(person_id)
    config = round_.config
    return {
        "round": {"id": round_.id, "name": round_.name, "version": run.version if run else 1,
                  "rules_version": run.rules_version if run else rules_tally.FIRST_RULES_VERSION,
                  "results_digest": round_.digest},
        "rules": {"levels": config["levels"], "grade_bands": config["grade_bands"],
                  "department_aggregation": config["department_aggregation"], "k": k_of(round_)},
        "subjects": [
            {"kind": r.subject_kind, "id": r.subject_id, "department": r.department_id,
             "counts": dict(sorted(r.counts.items())), "score": None if r.score is None else str(r.score),
             "grade": r.grade}
            for r in rows if (r.subject_kind, r.subject_id) not in hidden],
        "departments": {str(d): sorted(people) for d, people in sorted(members.items())},
    }


def digest_of(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode()).hexdigest()


def seal_counts(round_: Round) -> str | None:
    """Record the digest of the round's counts as they are published (at publication, and again
    after each re-tally), so that a document that differs later shows. A round tallied before
    versions has no run to record it in (None) until an appeal re-tallies it."""
    run = current_run(round_.id)
    if run is None:
        return None
    run.counts_digest = digest_of(counts_document(round_))
    return run.counts_digest


@dataclass
class Verification:
    digest: str
    digest_ok: bool | None  # None: no digest recorded to compare with
    rules_ok: bool
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    not_recomputable: list[str] = field(default_factory=list)  # an input hidden under k

    @property
    def ok(self) -> bool:
        return self.digest_ok is not False and self.rules_ok and not self.mismatches


def verify(document: dict, recorded_digest: str | None = None) -> Verification:
    """Recompute every score and grade in the document from its counts and rules, and compare
    its digest with the one recorded at publication."""
    digest = digest_of(document)
    report = Verification(digest, None if recorded_digest is None else digest == recorded_digest,
                          document["round"].get("rules_version") == rules_tally.RULES_VERSION)
    if not report.rules_ok:
        return report  # counted under other rules: recomputing with these would prove nothing
    rules = document["rules"]
    config = {"levels": rules["levels"], "grade_bands": rules["grade_bands"]}
    weighted = rules["department_aggregation"] == "ratings_weighted"
    subjects = {(s["kind"], s["id"]): s for s in document["subjects"]}
    scores: dict[tuple[str, int], Decimal | None] = {}

    def check(key: tuple[str, int], score: Decimal | None) -> None:
        published = subjects[key]
        grade = scoring.grade_for(score, rules["grade_bands"])
        scores[key] = score
        report.checked += 1
        if (published["score"], published["grade"]) != (None if score is None else str(score), grade):
            report.mismatches.append(f"{key[0]} {key[1]}：公布为 {published['score']} {published['grade']}，"
                                     f"重算为 {score} {grade}")

    def mean_of(key: tuple[str, int], parts: list[tuple[str, int]]) -> None:
        if all(p in scores for p in parts):
            check(key, scoring.mean_score(scores[p] for p in parts if scores[p] is not None))
        else:
            report.not_recomputable.append(f"{key[0]} {key[1]}")

    for key, s in subjects.items():  # from their own counts
        if key[0] in ("person", "office") or (key[0] == "department" and weighted):
            check(key, rules_tally.score_row(config, s["counts"])[0])
    for key in subjects:  # a department from its people's scores
        if key[0] == "department" and not weighted:
            mean_of(key, [("person", p) for p in document["departments"].get(str(key[1]), [])])
    for key in subjects:  # the round from its departments'
        if key[0] == "region":
            mean_of(key, [("department", int(d)) for d in document["departments"]])
    return report
