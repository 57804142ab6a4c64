"""Contact and staff matching: which provider contacts link, go to review or are new."""

from __future__ import annotations

import pytest

from booksync.hub.matching import (
    ALREADY_MATCHED,
    DIFFER_PUNCTUATION,
    DIFFER_SUFFIX,
    DIFFER_WORD_ORDER,
    SAME_DISPLAY_NAME,
    SAME_EMAIL,
    SAME_NAME_DIFFERENT_EMAIL,
    SAME_NAME_NO_EMAIL,
    MatchStats,
    Party,
    StaffMember,
    classify,
    classify_staff,
    normalize_name,
)


def one(provider: Party, *hub: Party, linked: dict[str, str] | None = None):
    [result] = classify([provider], list(hub), linked)
    return result


def reasons_of(result) -> list[str]:
    return [r for c in result.candidates for r in c.reasons]


# ------------------------------------------------------------------------ normalize_name


@pytest.mark.parametrize(
    ("one_name", "other_name"),
    [
        ("Smith & Jones", "Smith and Jones"),
        ("Acme Ltd", "ACME Limited"),
        ("Acme Pty. Ltd.", "acme"),
        ("Acme, Inc.", "Acme Incorporated"),
        ("The Acme Company", "Acme Co"),
        ("Müller GmbH", "Muller"),
        ("J.P. Morgan", "JP Morgan"),
        ("Smith, John", "John Smith"),
        ("  Harbour   Bakery  ", "harbour bakery"),
    ],
)
def test_names_that_differ_only_in_form_normalize_to_the_same_key(one_name, other_name):
    assert normalize_name(one_name) == normalize_name(other_name)


@pytest.mark.parametrize(
    ("one_name", "other_name"),
    [("Acme Ltd", "Acme Holdings Ltd"), ("Limited Editions Ltd", "Editions"), ("Co", "Inc")],
)
def test_names_with_different_words_keep_different_keys(one_name, other_name):
    assert normalize_name(one_name) != normalize_name(other_name)


# ------------------------------------------------------------------------------- classify


def test_same_name_and_email_ignoring_case_and_spacing_is_an_exact_match():
    # Given a hub contact and a provider contact whose name and email differ only in case
    # and spacing
    hub = Party("h1", "Harbour  Bakery", "Accounts@Harbour.example")
    provider = Party("p1", "harbour bakery ", " accounts@harbour.example")

    # When they are classified
    result = one(provider, hub)

    # Then they match exactly, to that hub contact
    assert (result.status, result.hub_id) == ("exact", "h1")


def test_same_name_with_a_different_email_goes_to_review():
    result = one(
        Party("p1", "Harbour Bakery", "a@x.example"), Party("h1", "Harbour Bakery", "b@x.example")
    )

    assert result.status == "partial"
    assert [c.hub_id for c in result.candidates] == ["h1"]
    assert reasons_of(result) == [SAME_NAME_DIFFERENT_EMAIL]


def test_same_email_with_a_different_name_goes_to_review():
    result = one(
        Party("p1", "Harbour Bakery", "a@x.example"), Party("h1", "Quay Cakes", "A@x.example")
    )

    assert result.status == "partial"
    assert reasons_of(result) == [SAME_EMAIL]


def test_a_contact_without_email_is_never_an_exact_match_but_goes_to_review():
    # Given the same name on both sides and no email on either
    result = one(Party("p1", "Jo Bloggs"), Party("h1", "Jo Bloggs"))

    # Then a person decides: two people may share a name
    assert result.status == "partial"
    assert reasons_of(result) == [SAME_NAME_NO_EMAIL]


@pytest.mark.parametrize(
    ("provider_name", "hub_name", "reason"),
    [
        ("Smith-Jones Bakery", "Smith Jones Bakery", DIFFER_PUNCTUATION),
        ("Acme Ltd", "Acme", DIFFER_SUFFIX),
        ("Acme Pty Ltd", "ACME Limited", DIFFER_SUFFIX),
        ("Bloggs, Jo", "Jo Bloggs", DIFFER_WORD_ORDER),
        ("Smith & Jones", "Jones and Smith", DIFFER_WORD_ORDER),
    ],
)
def test_names_differing_only_in_punctuation_suffix_or_word_order_go_to_review_saying_which(
    provider_name, hub_name, reason
):
    result = one(Party("p1", provider_name, "a@x.example"), Party("h1", hub_name, "b@x.example"))

    assert result.status == "partial"
    assert reasons_of(result) == [reason]


def test_same_email_and_a_suffix_difference_give_both_reasons():
    result = one(Party("p1", "Acme Ltd", "a@x.example"), Party("h1", "Acme", "a@x.example"))

    assert result.status == "partial"
    assert reasons_of(result) == [DIFFER_SUFFIX, SAME_EMAIL]


def test_a_contact_sharing_nothing_with_the_hub_is_new():
    result = one(
        Party("p1", "Harbour Bakery", "a@x.example"), Party("h1", "Quay Cakes", "q@x.example")
    )

    assert result.status == "none"
    assert result.candidates == ()


def test_an_already_linked_provider_contact_is_reported_linked_and_not_matched_again():
    # Given p1 linked to h9 and a hub contact h1 that would match it exactly
    result = one(
        Party("p1", "Acme", "a@x.example"), Party("h1", "Acme", "a@x.example"), linked={"p1": "h9"}
    )

    assert (result.status, result.hub_id) == ("linked", "h9")


def test_a_hub_contact_linked_to_another_provider_contact_is_no_candidate():
    # Given h1 is already linked to p0
    result = one(
        Party("p1", "Acme", "a@x.example"), Party("h1", "Acme", "a@x.example"), linked={"p0": "h1"}
    )

    assert result.status == "none"


def test_one_hub_contact_is_matched_exactly_once_and_the_second_twin_goes_to_review():
    # Given two provider contacts both equal to one hub contact
    twins = [Party("p1", "Acme", "a@x.example"), Party("p2", "ACME", "a@x.example")]

    first, second = classify(twins, [Party("h1", "Acme", "a@x.example")])

    assert (first.status, first.hub_id) == ("exact", "h1")
    assert second.status == "partial"
    assert ALREADY_MATCHED in reasons_of(second)


def test_two_equal_hub_contacts_make_the_match_a_review_with_both_candidates():
    result = one(
        Party("p1", "Acme", "a@x.example"),
        Party("h1", "Acme", "a@x.example"),
        Party("h2", "acme", "A@x.example"),
    )

    assert result.status == "partial"
    assert sorted(c.hub_id for c in result.candidates) == ["h1", "h2"]


def test_sub_customers_match_only_under_the_same_parent():
    # Given a client linked as p1 <-> h1 with a job "2024 Accounts" under it in the hub,
    # and the same job name under another client h2
    hub = [
        Party("h1", "Acme", "a@x.example"),
        Party("h2", "Quay Cakes", "q@x.example"),
        Party("j1", "2024 Accounts", "a@x.example", parent_id="h1"),
        Party("j2", "2024 Accounts", "a@x.example", parent_id="h2"),
    ]
    provider = [
        Party("p1", "Acme", "a@x.example"),
        Party("pj", "2024 Accounts", "a@x.example", parent_id="p1"),
    ]

    results = classify(list(reversed(provider)), hub)  # children may come first

    by_id = {r.provider_id: r for r in results}
    assert (by_id["pj"].status, by_id["pj"].hub_id) == ("exact", "j1")
    assert [r.provider_id for r in results] == ["pj", "p1"]


def test_a_top_level_contact_is_not_matched_to_a_hub_sub_contact():
    hub = [Party("j1", "2024 Accounts", "a@x.example", parent_id="h1")]

    assert one(Party("p1", "2024 Accounts", "a@x.example"), *hub).status == "none"


def _books(n: int, prefix: str) -> list[Party]:
    return [Party(f"{prefix}{i}", f"Client {i} Ltd", f"client{i}@x.example") for i in range(n)]


def test_classifying_5000_by_5000_looks_at_each_contact_a_bounded_number_of_times():
    # Given 5,000 hub contacts and 5,000 provider contacts (half the same, half new)
    hub = _books(5000, "h")
    provider = _books(2500, "p") + [
        Party(f"n{i}", f"New {i}", f"new{i}@x.example") for i in range(2500)
    ]
    stats = MatchStats()

    # When they are classified
    results = classify(provider, hub, stats=stats)

    # Then the work grows with the number of contacts, not their product (25 million)
    assert stats.comparisons <= 3 * (len(provider) + len(hub))
    assert stats.by_status == {"exact": 2500, "none": 2500}
    assert len(results) == 5000


def test_comparisons_grow_linearly_with_the_size_of_the_books():
    def comparisons(n: int) -> int:
        stats = MatchStats()
        classify(_books(n, "p"), _books(n, "h"), stats=stats)
        return stats.comparisons

    assert comparisons(4000) == 4 * comparisons(1000)


# ----------------------------------------------------------------------------------- staff


def test_qbo_employee_matches_a_user_by_email_first():
    hub = [
        StaffMember("u1", "Jo", "Bloggs", "jo@firm.example"),
        StaffMember("u2", "Joanna", "Bloggs", "other@firm.example"),
    ]
    qbo = StaffMember("e1", display_name="Joanna Bloggs", email="JO@firm.example")

    [result] = classify_staff("qbo", [qbo], hub)

    assert (result.status, result.hub_id, result.reason) == ("exact", "u1", SAME_EMAIL)


def test_qbo_employee_without_an_email_match_matches_by_display_name():
    hub = [StaffMember("u1", "Jo", "Bloggs", "jo@firm.example")]
    qbo = StaffMember("e1", display_name="jo  bloggs", email="jb@home.example")

    [result] = classify_staff("qbo", [qbo], hub)

    assert (result.status, result.hub_id, result.reason) == ("exact", "u1", SAME_DISPLAY_NAME)


def test_qbo_employee_whose_name_is_in_another_order_goes_to_review():
    hub = [StaffMember("u1", "Jo", "Bloggs", "jo@firm.example")]

    [result] = classify_staff("qbo", [StaffMember("e1", display_name="Bloggs, Jo")], hub)

    assert result.status == "partial"
    assert reasons_of(result) == [DIFFER_WORD_ORDER]


def test_xero_employee_matches_only_on_first_name_last_name_and_email_together():
    hub = [StaffMember("u1", "Jo", "Bloggs", "jo@firm.example")]
    same = StaffMember("x1", "JO", "bloggs", "Jo@Firm.example")
    other_email = StaffMember("x2", "Jo", "Bloggs", "jo@home.example")
    stranger = StaffMember("x3", "Sam", "Lee", "sam@firm.example")

    results = classify_staff("xero", [same, other_email, stranger], hub)

    assert [(r.status, r.hub_id) for r in results] == [
        ("exact", "u1"),
        ("partial", None),
        ("none", None),
    ]


def test_xero_employee_sharing_only_the_email_goes_to_review():
    hub = [StaffMember("u1", "Jo", "Bloggs", "jo@firm.example")]

    [result] = classify_staff(
        "xero", [StaffMember("x1", "Joanna", "Smith", "jo@firm.example")], hub
    )

    assert result.status == "partial"
    assert reasons_of(result) == [SAME_EMAIL]
