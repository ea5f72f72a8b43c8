"""The ballot form (附件3) as rules: levels, points, complaint tags, and checking a submission.

Levels, points and tags are per-round configuration, snapshotted when a round opens
(`DEFAULT_BALLOT_CONFIG` is what a new round starts from), so a round's results can always be
recomputed from its own snapshot.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .roles import Role

UNKNOWN = "unknown"
OTHER_TAG = "other"
NOTE_MAX = 200
# All notes of one ballot together: it bounds the size every sealed ballot is padded to.
NOTES_TOTAL_MAX = 500

DEFAULT_BALLOT_CONFIG = {
    # code, label, points (None: not scored, counted separately)
    "levels": [
        ["satisfied", "满意", 100],
        ["fairly_satisfied", "比较满意", 80],
        ["basically_satisfied", "基本满意", 60],
        ["dissatisfied", "不满意", 30],
        [UNKNOWN, "不了解情况", None],
    ],
    # Levels that open the complaint tags and the note.
    "complaint_levels": ["basically_satisfied", "dissatisfied"],
    "leader_tags": [
        ["poor_attitude", "服务意识差"],
        ["low_efficiency", "工作效率低"],
        ["buck_passing", "办事推拖绕"],
        ["bribery", "吃拿索要"],
        [OTHER_TAG, "其他"],
    ],
    "staff_tags": [
        ["poor_attitude", "服务意识差"],
        ["low_efficiency", "工作效率低"],
        ["buck_passing", "办事推拖绕"],
        ["bribery", "吃拿索要"],
        ["obstruction", "故意刁难"],
        [OTHER_TAG, "其他"],
    ],
}


@dataclass(frozen=True)
class BallotConfig:
    levels: dict[str, tuple[str, int | None]]
    complaint_levels: frozenset[str]
    leader_tags: dict[str, str]
    staff_tags: dict[str, str]

    @classmethod
    def from_snapshot(cls, snapshot: Mapping) -> "BallotConfig":
        return cls(
            levels={code: (label, points) for code, label, points in snapshot["levels"]},
            complaint_levels=frozenset(snapshot["complaint_levels"]),
            leader_tags=dict(snapshot["leader_tags"]),
            staff_tags=dict(snapshot["staff_tags"]),
        )

    def tags_for(self, role: Role) -> dict[str, str]:
        """附件3: leaders' complaint tags; office people also have 故意刁难."""
        return self.leader_tags if role.is_department_leader else self.staff_tags

    def tag_label(self, code: str) -> str:
        return self.staff_tags.get(code) or self.leader_tags[code]


@dataclass(frozen=True)
class Rating:
    person_id: int
    level: str
    tags: tuple[str, ...] = ()
    note: str | None = None


@dataclass
class Checked:
    """A checked submission: the ratings, or errors by person id (None: the form as a whole)."""

    ratings: list[Rating]
    errors: dict[int | None, list[str]]

    @property
    def ok(self) -> bool:
        return not self.errors


def unrated(person_ids: Iterable[int], form: Mapping[str, list[str]]) -> list[int]:
    """The people the form gives no level yet, in the order given."""
    return [person_id for person_id in person_ids if not form.get(f"r{person_id}")]


def fill_unknown(roster: list[tuple[int, Role]], form: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The form with 不了解情况 chosen for everyone not yet rated (the "其余均不了解" button)."""
    filled = {key: list(values) for key, values in form.items()}
    for person_id in unrated((person_id for person_id, _role in roster), form):
        filled[f"r{person_id}"] = [UNKNOWN]
    return filled


def check_ballot(config: BallotConfig, roster: list[tuple[int, Role]], form: Mapping[str, list[str]]) -> Checked:
    """Check a submitted form against the office's frozen roster.

    Every person on the roster needs exactly one level; tags (of that person's role) and a
    note of at most 200 characters only with 基本满意 or 不满意; 其他 needs a note saying what.
    The notes of one ballot come to at most 500 characters in all. Fields for anyone not on
    the roster make the whole form invalid.
    """
    errors: dict[int | None, list[str]] = {}
    on_roster = {person_id for person_id, _ in roster}
    for key in form:
        number = key[1:]
        if key[:1] in "rtn" and not (number.isascii() and number.isdecimal() and int(number) in on_roster):
            errors.setdefault(None, []).append("表单中有不在本科室名单上的人员，请刷新页面后重新评价")
            break
    ratings = []
    for person_id, role in roster:
        problems = []
        levels = form.get(f"r{person_id}", [])
        tags = tuple(dict.fromkeys(form.get(f"t{person_id}", [])))
        note = "\n".join(form.get(f"n{person_id}", [])).strip() or None
        if not levels:
            problems.append("请选择评价")
        elif len(levels) > 1 or levels[0] not in config.levels:
            problems.append("评价选项无效，请重新选择")
        elif levels[0] not in config.complaint_levels and (tags or note):
            problems.append("只有选择“基本满意”或“不满意”时，才能勾选问题或填写意见")
        else:
            allowed = config.tags_for(role)
            if any(tag not in allowed for tag in tags):
                problems.append("勾选的问题无效，请重新选择")
            if note and len(note) > NOTE_MAX:
                problems.append(f"意见不能超过{NOTE_MAX}个字（现有{len(note)}个字）")
            if note and any((ord(ch) < 32 and ch not in "\n\r\t") or "\ud800" <= ch <= "\udfff" for ch in note):
                problems.append("意见不能包含控制字符，请删除后重新提交")
            if OTHER_TAG in tags and not note:
                problems.append("勾选“其他”时，请在意见中注明具体事项")
        if problems:
            errors[person_id] = problems
        else:
            ratings.append(Rating(person_id, levels[0], tags, note))
    notes = sum(len(r.note) for r in ratings if r.note)
    if notes > NOTES_TOTAL_MAX:
        errors.setdefault(None, []).append(
            f"所有意见合计不能超过{NOTES_TOTAL_MAX}个字（现有{notes}个字），请精简后提交")
    return Checked(ratings if not errors else [], errors)
