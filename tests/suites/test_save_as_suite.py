"""The history's "Save as suite": ticked comparisons' first turns become cases; owner only."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from playground.models import Comparison, Turn
from playground.suites.models import Suite, SuiteCase
from playground.suites.services import case_prompt

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def comparison(owner, *prompts: str, system: str = "") -> Comparison:
    made = Comparison.objects.create(owner=owner, title=prompts[0][:50], system_prompt=system)
    for index, prompt in enumerate(prompts):
        Turn.objects.create(comparison=made, index=index, prompt=prompt)
    return made


def messages_of(response) -> list[str]:
    html = response.content.decode().replace("&#x27;", "'")
    return re.findall(r'<p class="notice notice-\w+" role="status">([^<]*)</p>', html)


def test_history_has_a_checkbox_per_comparison_and_the_form(user):
    first = comparison(user, "First?")
    page = logged_in(user).get("/history/").content.decode()
    assert f'name="comparisons" value="{first.pk}" form="save-suite"' in page
    assert 'id="save-suite"' in page and 'action="/suites/from-history/"' in page
    assert "Save as suite" in page


def test_ticked_comparisons_become_cases_with_their_system_prompts(user):
    older = comparison(user, "Explain CRDTs.", "And then?", system="You are terse.")
    braces = comparison(user, "Fill in {{name}} and {{ name }} and {{other}} as written.")
    client = logged_in(user)
    response = client.post(
        "/suites/from-history/",
        {"name": "from history", "comparisons": [str(braces.pk), str(older.pk)]},
        follow=True,
    )
    suite = Suite.objects.get()
    assert response.redirect_chain[-1][0] == f"/suites/{suite.pk}/"
    assert messages_of(response) == ["Saved from history v1: 2 cases from the history."]
    assert (suite.name, suite.owner_id) == ("from history", user.pk)
    first, second = suite.cases.order_by("index")
    # In the order ticked; only the first turn; the prompt is sent exactly as it was.
    assert case_prompt(first) == ("", "Fill in {{name}} and {{ name }} and {{other}} as written.")
    assert first.checks == {}
    assert (second.prompt, second.system) == ("Explain CRDTs.", "You are terse.")
    assert case_prompt(second) == ("You are terse.", "Explain CRDTs.")

    # The same name again makes a new version.
    client.post("/suites/from-history/", {"name": "from history", "comparisons": [older.pk]})
    assert list(Suite.objects.values_list("version", flat=True)) == [2, 1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "Tick at least one comparison to save as a suite."),
        ({"name": "", "comparisons": ["MINE"]}, "Give the suite a name"),
        (
            {"name": "x", "comparisons": ["MINE", "THEIRS"]},
            "No such comparison: THEIRS. Nothing was saved.",
        ),
        ({"name": "x", "comparisons": ["MINE", "12abc"]}, "'12abc' is not a comparison of yours."),
    ],
)
def test_nothing_is_saved_for_bad_input_or_someone_elses_comparison(user, data, message):
    mine = comparison(user, "Mine")
    other = get_user_model().objects.create_user("bob", password="pw-bob-123456")
    theirs = comparison(other, "Theirs")
    ids = {"MINE": str(mine.pk), "THEIRS": str(theirs.pk)}
    payload = {
        "name": data["name"],
        "comparisons": [ids.get(value, value) for value in data.get("comparisons", [])],
    }
    response = logged_in(user).post("/suites/from-history/", payload, follow=True)
    assert response.redirect_chain[-1][0] == "/history/"
    (shown,) = messages_of(response)
    assert shown.startswith(message.replace("THEIRS", str(theirs.pk)))
    assert not Suite.objects.exists() and not SuiteCase.objects.exists()


def test_only_logged_in_users_and_only_by_post(user):
    mine = comparison(user, "Mine")
    anonymous = Client().post("/suites/from-history/", {"name": "x", "comparisons": [mine.pk]})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert logged_in(user).get("/suites/from-history/").status_code == 405
    assert not Suite.objects.exists()
