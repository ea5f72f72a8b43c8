"""Small cells (A3), worked by hand: which cells of a group, and which totals, stay hidden."""

from ballot_service.domain.visibility import (
    RULES,
    Audience,
    Datum,
    hidden_cells,
    hidden_in_department,
    needs_k,
    shown,
    total_hidden,
    without_serious,
)


def test_cells_below_k_are_hidden_and_nothing_else_when_they_hold_k_together():
    # 2 + 3 = 5 ballots hidden together: the total minus the shown cells gives only their sum.
    assert hidden_cells({"a": 2, "b": 3, "c": 9, "d": 12}, 5) == {"a", "b"}


def test_one_small_cell_takes_the_smallest_shown_cell_with_it():
    # a (1) alone: total − b − c − d would rebuild it, so the smallest shown cell (c, 6) goes too.
    assert hidden_cells({"a": 1, "b": 9, "c": 6, "d": 7}, 5) == {"a", "c"}
    # Two offices, one small: both hidden (the department minus one is the other).
    assert hidden_cells({"x": 6, "y": 2}, 5) == {"x", "y"}


def test_ties_are_broken_by_key_and_cells_with_no_ballots_need_no_cover():
    assert hidden_cells({"a": 1, "c": 6, "b": 6}, 5) == {"a", "b"}
    assert hidden_cells({"a": 0, "b": 9, "c": 6}, 5) == {"a"}
    assert hidden_cells({"a": 5, "b": 9}, 5) == set()


def test_a_total_is_hidden_below_k_or_when_its_small_cells_would_show_through_it():
    assert total_hidden(10, {"A": 8, "B": 2}, 5)  # round minus A is B
    assert not total_hidden(12, {"A": 8, "B": 2, "C": 2, "D": 1}, 5)  # B+C+D = 5 together
    assert total_hidden(4, {"A": 4}, 5)
    assert not total_hidden(9, {"A": 9, "B": 0}, 5)


def test_the_table():
    # The public and a department see no figure below k; coordinators, auditors and 纪检监察 do.
    assert needs_k(Audience.PUBLIC, Datum.SCORES) and needs_k(Audience.DEPARTMENT, Datum.DISTRIBUTIONS)
    assert not any(needs_k(a, Datum.SCORES) for a in (Audience.COORDINATOR, Audience.AUDITOR, Audience.DISCIPLINE))
    # Misconduct reports: coordinators and 纪检监察 only, never the department named or the public.
    assert {a for a in Audience if shown(a, Datum.SERIOUS, "published")} == {Audience.COORDINATOR, Audience.DISCIPLINE}
    # A department's comments: pooled, once published, under k.
    department = RULES[Audience.DEPARTMENT][Datum.COMMENTS]
    assert department.pooled and department.k and department.states == ("published",)
    assert not shown(Audience.DEPARTMENT, Datum.COMMENTS, "tallied")
    assert not shown(Audience.PUBLIC, Datum.COMMENTS, "published")
    assert without_serious({"bribery": 1, "obstruction": 2, "low_efficiency": 3}) == {"low_efficiency": 3}


def test_an_office_is_hidden_when_minus_its_shown_people_it_would_rebuild_a_hidden_one():
    # The reviewer's case, k = 5: O1 = {A (3), B (20)}, O2 = {C (6)}; A is hidden, and O1 − B = A.
    offices, people = {"O1": 23, "O2": 6}, {"A": 3, "B": 20, "C": 6}
    under = {"O1": {"A", "B"}, "O2": {"C"}}
    assert hidden_cells(people, 5) == {"A", "C"}  # the people's own complement
    hidden_offices, hidden_people = hidden_in_department(offices, people, under, 5)
    # O1 goes (A alone under it); then, since the department minus O2 is O1, B under it too:
    # what can be rebuilt is A + B, 23 ratings.
    assert (hidden_offices, hidden_people) == ({"O1"}, {"A", "B", "C"})


def test_a_one_person_office_with_mostly_unknown_ballots_does_not_show_its_person():
    # 10 ballots, 7 of them 不了解情况: the office's figure is its one person's 3 ratings.
    offices, people = {"O": 10, "P": 12}, {"X": 3, "Y": 12, "Z": 9}
    under = {"O": {"X"}, "P": {"Y", "Z"}}
    hidden_offices, hidden_people = hidden_in_department(offices, people, under, 5)
    assert "O" in hidden_offices and "X" in hidden_people
    # O hidden drags P (the department minus P is O); under both, X alone (3) is too few: Z goes too.
    assert hidden_offices == {"O", "P"} and hidden_people == {"X", "Z"}
