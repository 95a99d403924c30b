"""Making suites in the page (pasted or uploaded, good and bad) and starting a run from it."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tasks_db.models import DBTaskResult

from playground.models import Comparison, Run, RunCharge, UserQuota
from playground.suites import services
from playground.suites.models import Suite, SuiteCase, SuiteRun, SuiteUnit
from playground.suites.parsing import parse_text
from playground.suites.services import ModelSpec

pytestmark = pytest.mark.django_db

JSONL = "\n".join(
    json.dumps(case)
    for case in (
        {"prompt": "Capital of {{country}}?", "vars": {"country": "France"},
         "expect": {"contains": "Paris"}},
        {"prompt": "Say hi", "system": "Be terse."},
    )
)  # fmt: skip


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def nothing_saved() -> bool:
    return not Suite.objects.exists() and not SuiteCase.objects.exists()


def page_text(response) -> str:
    """The page's HTML in one line, line breaks and entities read as text."""
    html = response.content.decode().replace("<br>", " ")
    html = html.replace("&#x27;", "'").replace("&quot;", '"')
    return re.sub(r"\s+", " ", html)


def test_pasted_jsonl_makes_a_suite_and_the_same_name_a_new_version(user):
    client = logged_in(user)
    response = client.post("/suites/new/", {"name": "capitals", "text": JSONL, "format": "auto"})
    suite = Suite.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/suites/{suite.pk}/"
    assert (suite.name, suite.version, suite.owner_id) == ("capitals", 1, user.pk)
    first, second = suite.cases.order_by("index")
    assert first.vars == {"country": "France"} and first.checks == {"contains": ["Paris"]}
    assert (second.prompt, second.system) == ("Say hi", "Be terse.")
    page = page_text(client.get(response["Location"]))
    assert "Saved capitals v1: 2 cases, read as JSONL." in page
    assert "Capital of {{country}}?" in page and "Be terse." in page

    client.post("/suites/new/", {"name": "capitals", "text": "One?\nTwo?\n"})
    assert list(Suite.objects.values_list("name", "version")) == [("capitals", 2), ("capitals", 1)]


def test_pasted_csv_and_plain_lines_are_detected(user):
    client = logged_in(user)
    client.post("/suites/new/", {"name": "csv", "text": "prompt,city\nWeather in {{city}}?,Oslo\n"})
    (case,) = Suite.objects.get(name="csv").cases.all()
    assert (case.prompt, case.vars) == ("Weather in {{city}}?", {"city": "Oslo"})

    lines = "First question?\n\n  Second, with a comma?  \nThird {\n"
    response = client.post("/suites/new/", {"name": "lines", "text": lines})
    suite = Suite.objects.get(name="lines")
    assert [c.prompt for c in suite.cases.order_by("index")] == [
        "First question?", "Second, with a comma?", "Third {",
    ]  # fmt: skip
    assert "read as one prompt per line" in page_text(client.get(response["Location"]))


def test_uploaded_csv_and_jsonl_files(user):
    client = logged_in(user)
    csv_file = SimpleUploadedFile("cases.csv", b"\xef\xbb\xbfprompt,expect_json\nJSON?,true\n")
    assert client.post("/suites/new/", {"name": "up", "file": csv_file}).status_code == 302
    (case,) = Suite.objects.get(name="up").cases.all()
    assert (case.prompt, case.checks) == ("JSON?", {"json": True})

    jsonl_file = SimpleUploadedFile("cases.jsonl", JSONL.encode())
    assert client.post("/suites/new/", {"name": "up", "file": jsonl_file}).status_code == 302
    assert Suite.objects.get(name="up", version=2).cases.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"text": '{"prompt": "ok"}\n{"prompt": \n'},
            "Read as JSONL: The pasted text has problems: line 2: not JSON",
        ),
        ({"text": "prompt\nfine\n{{x}}\n"}, "line 3: no value for {{x}}"),
        ({"text": "prompt,expect_json\nhi,maybe\n"}, "line 2: expect_json must be true or false"),
        (
            {"text": "a line\n{{who}} here\n"},
            "Read as one prompt per line: The pasted text has problems: line 2: no value for",
        ),
        ({"text": "   \n"}, "Paste the cases, or choose a file to upload."),
        ({"text": "hi", "format": "jsonl"}, "line 1: not JSON"),
        (
            {"file": ("bad.jsonl", b'{"prompt": "x", "expect": {"smells": 1}}\n')},
            "line 1: unknown check 'smells'",
        ),
        ({"file": ("bad.csv", b"question\nhi\n")}, "no `prompt` column"),
        ({"file": ("bad.xlsx", b"PK\x03\x04")}, "bad.xlsx: expected a .csv or .jsonl file."),
        ({"file": ("latin.csv", b"prompt\ncaf\xe9\n")}, "latin.csv: not UTF-8 text."),
        (
            {"text": "hi", "file": ("a.csv", b"prompt\nhi\n")},
            "Paste the cases or upload a file, not both.",
        ),
        ({"name": "", "text": "hi"}, "Give the suite a name."),
    ],
)
def test_bad_input_says_what_and_where_and_saves_nothing(user, data, message):
    payload = {"name": "bad", **data}
    if "file" in data:
        name, content = data["file"]
        payload["file"] = SimpleUploadedFile(name, content)
    response = logged_in(user).post("/suites/new/", payload)
    assert response.status_code == 200
    assert message in page_text(response)
    assert 'role="alert"' in response.content.decode()
    assert nothing_saved()


def test_the_pages_show_only_the_owners_suites(user):
    other = get_user_model().objects.create_user("bob", password="pw-bob-123456")
    mine = services.suite_create(
        user=user, name="mine", cases=parse_text("prompt\nx\n", filename="a.csv")
    )
    services.suite_create(
        user=user, name="mine", cases=parse_text("prompt\nx\ny\n", filename="a.csv")
    )
    theirs = services.suite_create(
        user=other, name="theirs", cases=parse_text("prompt\nz\n", filename="a.csv")
    )
    client = logged_in(user)
    listing = page_text(client.get("/suites/saved/"))
    assert "mine" in listing and "theirs" not in listing
    assert 'v2</a> <span class="muted">(2)</span> · ' in listing and "v1</a>" in listing
    assert client.get(f"/suites/{mine.pk}/").status_code == 200
    assert client.get(f"/suites/{theirs.pk}/").status_code == 404
    assert client.post(f"/suites/{theirs.pk}/", {"models": "sim:alpha"}).status_code == 404
    assert not SuiteRun.objects.exists()
    assert Client().get("/suites/new/").status_code == 302  # login first
    assert "New suite" in page_text(client.get("/suites/new/"))


def two_case_suite(user) -> Suite:
    return services.suite_create(user=user, name="two", cases=parse_text(JSONL, filename="a.jsonl"))


def test_starting_a_run_from_the_page_queues_cases_x_models_x_repeats(
    user, sim_models, django_capture_on_commit_callbacks
):
    suite = two_case_suite(user)
    alpha = sim_models["alpha"]
    client = logged_in(user)
    page = page_text(client.get(f"/suites/{suite.pk}/"))
    assert 'value="sim:alpha"' in page and 'value="sima:claude-sim"' in page
    assert f'name="temperature_{alpha.pk}"' in page and 'name="provider_sim"' in page
    assert 'placeholder="4"' in page  # the default caps of conf.SuiteSettings

    form = {
        "models": ["sim:alpha", "sim:beta"],
        f"temperature_{alpha.pk}": "0.2",
        f"max_tokens_{alpha.pk}": "50",
        "max_tokens": "80",  # the default, for beta
        "temperature": "",
        "repeats": "3",
        "concurrency": "3",
        "provider_sim": "2",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/suites/{suite.pk}/", form)
    suite_run = SuiteRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/suites/runs/{suite_run.pk}/"
    assert SuiteUnit.objects.filter(suite_run=suite_run).count() == 2 * 2 * 3
    assert suite_run.model_specs == [
        {"model": "sim:alpha", "temperature": 0.2, "max_tokens": 50},
        {"model": "sim:beta", "temperature": None, "max_tokens": 80},
    ]
    assert (suite_run.repeats, suite_run.concurrency) == (3, 3)
    assert suite_run.provider_concurrency == {"sim": 2}
    assert suite_run.default_provider_concurrency == 4
    # Queued for the workers, exactly once, like `manage.py suite start`.
    (task,) = DBTaskResult.objects.all()
    assert task.task_path.endswith("drive_suite_run")
    assert task.args_kwargs["args"] == [suite_run.pk]


def test_the_estimate_is_what_the_run_reserves(user, sim_models):
    suite = two_case_suite(user)
    client = logged_in(user)
    form = {"models": ["sim:alpha", "sim:gamma"], "repeats": "2", "max_tokens": "100"}
    fragment = page_text(client.post(f"/suites/{suite.pk}/estimate/", form))
    assert '<span class="suite-estimate-units" data-units="8">8 answers</span>' in fragment
    assert "(2 cases × 2 models × 2 repeats)" in fragment
    assert "plus Gamma, whose cost is unknown (no price)" in fragment
    expected = services.suite_run_estimate(
        user=user,
        suite=suite,
        models=[ModelSpec("sim:alpha", max_tokens=100), ModelSpec("sim:gamma", max_tokens=100)],
        repeats=2,
    )
    suite_run = services.suite_run_create(
        user=user,
        suite=suite,
        models=[ModelSpec("sim:alpha", max_tokens=100), ModelSpec("sim:gamma", max_tokens=100)],
        repeats=2,
    )
    assert expected.high == suite_run.estimate and expected.units == 8
    assert expected.high is not None and f"at most ${expected.high:.6f}".rstrip("0") in fragment
    empty = page_text(client.post(f"/suites/{suite.pk}/estimate/", {"repeats": "1"}))
    assert "Pick models to see the estimate." in empty


def test_the_spending_limit_refusal_is_shown_beside_the_form_and_nothing_is_saved(
    user, sim_models, django_capture_on_commit_callbacks
):
    UserQuota.objects.create(user=user, daily_spend_limit=Decimal("0.001"))
    suite = two_case_suite(user)
    client = logged_in(user)
    form = {"models": ["sim:alpha", "sim:beta"], "repeats": "3"}
    estimate = page_text(client.post(f"/suites/{suite.pk}/estimate/", form))
    assert "this run would be refused" in estimate
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/suites/{suite.pk}/", form)
    assert response.status_code == 200
    page = page_text(response)
    refusal = re.search(
        r'<p class="notice notice-error suite-refused" role="alert">([^<]*)</p>', page
    )
    assert refusal, page
    assert re.search(
        r"could cost up to \$0\.0\d+ \(12 answers .*limit is \$0\.00 a day", refusal[1]
    )
    assert "checked" in page  # the form keeps what was picked
    assert not SuiteRun.objects.exists() and not SuiteUnit.objects.exists()
    assert not RunCharge.objects.exists() and not Run.objects.exists()
    assert not DBTaskResult.objects.exists()
    assert Comparison.objects.count() == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"repeats": "1"}, "Pick at least one model."),
        ({"models": "sim:alpha", "repeats": "21"}, "Repeats must be a whole number from 1 to 20."),
        (
            {"models": "sim:alpha", "repeats": "2", "concurrency": "0"},
            "Concurrency must be a whole number from 1 to 32.",
        ),
        ({"models": "sim:nope", "repeats": "1"}, "sim:nope is not in the model catalogue"),
        (
            {"models": "sim:alpha", "repeats": "1", "temperature_ALPHA": "3"},
            "The temperature of sim:alpha must be a number from 0 to 2.",
        ),
        (
            {"models": "sim:alpha", "repeats": "1", "provider_sim": "x"},
            "The concurrency of Simulated must be a whole number",
        ),
    ],
)
def test_bad_run_settings_are_named_and_nothing_is_saved(user, sim_models, form, message):
    suite = two_case_suite(user)
    alpha = sim_models["alpha"]
    data = {key.replace("ALPHA", str(alpha.pk)): value for key, value in form.items()}
    response = logged_in(user).post(f"/suites/{suite.pk}/", data)
    assert response.status_code == 200
    assert message in page_text(response)
    assert not SuiteRun.objects.exists() and not SuiteUnit.objects.exists()


def test_a_model_that_cannot_run_is_refused_with_its_reason(user, sim_models):
    suite = two_case_suite(user)
    provider = sim_models["claude"].provider
    provider.api_key = ""
    provider.save()
    client = logged_in(user)
    page = page_text(client.get(f"/suites/{suite.pk}/"))
    assert "cannot run now" in page and "no API key" in page
    response = client.post(f"/suites/{suite.pk}/", {"models": "sima:claude-sim", "repeats": "1"})
    assert response.status_code == 200
    assert "sima:claude-sim is not available: no API key" in page_text(response)
    assert not SuiteRun.objects.exists()
