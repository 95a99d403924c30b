"""What a new user is told: dropped deep-link models, the panel limit, an over-long prompt
before sending, plain form messages, the favicon, labels in the history, the printed login
address, and a terminal compare that reads well with several models."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils.datastructures import MultiValueDict

from inference.models import Provider
from inference.simulator import Scenario
from playground.forms import CompareForm
from playground.management.commands.compare import terminal_safe


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def notice_of(html: str) -> str:
    match = re.search(
        r'<div id="notice" class="notice notice-warning" role="alert">(.*?)</div>', html
    )
    return match.group(1) if match else ""


# --- deep links ---------------------------------------------------------------------------


def test_a_deep_link_names_the_unknown_and_the_ninth_model(user, sim_models):
    names = ["sim:alpha", "sim:nope", "sim:beta", "sim:alpha", "sim:beta", "sim:alpha"]
    names += ["sim:beta", "sim:alpha", "sim:beta", "sima:claude-sim"]  # 9 known, 1 unknown
    html = logged_in(user).get("/", {"models": ",".join(names), "prompt": "Hi"}).content.decode()
    assert html.count('<li class="chip" data-name="sim') == 8
    notice = notice_of(html)
    assert "sim:nope is not in the model catalogue, so it was left out." in notice
    assert "A comparison has at most 8 panels, so Claude Sim was left out." in notice
    assert "models:" not in notice


def test_a_deep_link_says_a_model_that_cannot_run(user, sim_models):
    Provider.objects.filter(slug="sima").update(api_key="")
    Provider.objects.filter(slug="sima").update(key_required=True)
    html = logged_in(user).get("/", {"models": "sima:claude-sim"}).content.decode()
    notice = notice_of(html)
    assert notice.startswith("Claude Sim cannot run now: no API key")


def test_a_clean_deep_link_has_no_notice(user, sim_models):
    html = logged_in(user).get("/", {"models": "sim:alpha,sim:beta"}).content.decode()
    assert notice_of(html) == ""
    assert '<div id="notice" class="notice" role="status"' in html


def test_the_picker_says_why_a_ninth_model_cannot_be_added(user, sim_models):
    html = logged_in(user).get("/").content.decode()
    assert 'id="picker-full"' in html and "At most 8 panels: remove one" in html
    # The notice sits in the composer, beside the prompt, not above the board.
    composer = html[html.index('<form id="composer"') :]
    assert 'id="notice"' in composer[: composer.index('id="id_prompt"')]
    assert 'data-max-frame-bytes="1048576"' in html


# --- the estimate line --------------------------------------------------------------------


def estimate(user, **data) -> str:
    return logged_in(user).post("/estimate/", data).content.decode()


def test_the_estimate_warns_of_a_prompt_over_the_limit(user, sim_models):
    html = estimate(user, prompt="x" * 200_001, models="sim:alpha")
    assert "The prompt is 200,001 characters; the limit is 200,000." in html
    assert 'class="error"' in html and "input tokens" not in html


def test_the_estimate_warns_of_a_system_prompt_over_the_limit(user, sim_models):
    html = estimate(user, prompt="hi", system="y" * 50_001, models="sim:alpha")
    assert "The system prompt is 50,001 characters; the limit is 50,000." in html


def test_the_estimate_warns_of_bad_settings_and_too_many_models(user, sim_models):
    assert "The temperature must be between 0 and 2." in estimate(
        user, prompt="hi", models="sim:alpha", temperature="5"
    )
    html = estimate(user, prompt="hi", models=",".join(["sim:alpha"] * 9))
    assert "9 models picked; a comparison has at most 8 panels." in html


def test_the_estimate_within_limits_counts_tokens(user, sim_models):
    html = estimate(user, prompt="x" * 200_000, models="sim:alpha")
    assert "input tokens" in html and 'class="error"' not in html


# --- form messages in plain words -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"prompt": "hi"}, "Pick at least one model"),
        ({"prompt": "", "models": "sim:alpha"}, "Write a prompt first."),
        ({"prompt": "hi", "models": "sim:alpha", "temperature": "hot"}, "The temperature must"),
        ({"prompt": "hi", "models": "sim:alpha", "max_tokens": "0"}, "Max tokens must be at"),
        ({"prompt": "hi", "models": ["sim:alpha"] * 9}, "at most 8 panels"),
        ({"prompt": "hi", "models": "sim:alpha", "comparison": "x"}, "The comparison to continue"),
    ],
)
def test_form_messages_carry_no_field_names(sim_models, data, expected):
    form_data: MultiValueDict[str, str] = MultiValueDict()
    for key, value in data.items():
        form_data.setlist(key, value if isinstance(value, list) else [value])
    form = CompareForm(form_data)
    assert not form.is_valid()
    text = form.error_text()
    assert expected in text
    for name in ("models:", "prompt:", "temperature:", "max_tokens", "comparison:", "__all__"):
        assert name not in text


# --- favicon, history labels, printed address --------------------------------------------


def test_favicon_is_linked_and_answered(user, client):
    assert client.get("/favicon.ico").status_code == 301
    assert client.get("/favicon.ico")["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in logged_in(user).get("/").content.decode()


def test_history_shows_model_labels(user, sim_models):
    from tests.playground.test_pages import make_comparison

    comparison = make_comparison(user, "labelled", ["sim:alpha", "sima:claude-sim"])
    for run in comparison.runs.all():
        run.model_label = {"sim:alpha": "Alpha", "sima:claude-sim": "Claude Sim"}[run.model_name]
        run.save(update_fields=["model_label"])
    html = logged_in(user).get("/history/").content.decode()
    assert ">Alpha</span>" in html and ">Claude Sim</span>" in html
    assert 'title="sima:claude-sim"' in html


def test_ensure_admin_prints_the_address_it_is_given(db, settings):
    out = io.StringIO()
    call_command("ensure_admin", "--base-url", "http://10.1.2.3:9000/", stdout=out)
    assert "Log in at http://10.1.2.3:9000/ as  admin" in out.getvalue()
    assert get_user_model().objects.filter(username="admin").exists()


def test_ensure_admin_follows_playground_base_url(db, settings):
    settings.PLAYGROUND = {"base_url": "https://playground.example.com"}
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "Log in at https://playground.example.com/ as" in out.getvalue()
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)  # only once
    assert out.getvalue() == ""


def test_make_run_passes_its_address_and_websocket_limits():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "PLAYGROUND_BASE_URL=$${PLAYGROUND_BASE_URL:-http://$(ADDRPORT)}" in makefile
    assert "runserver $(WS_LIMITS) $(ADDRPORT)" in makefile


# --- the terminal ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_compare_in_a_terminal_prints_each_answer_whole(user, sim, sim_models):
    alpha = "Alpha answers in several words that stream one after another."
    claude = "Claude answers too, at the same time, in its own words."
    sim.set("alpha", Scenario(text=alpha, interval=0.01))
    sim.set("claude-sim", Scenario(text=claude, interval=0.012, reasoning="Let me think."))
    out = io.StringIO()
    call_command(
        "compare", "Hello", "--model", "sim:alpha", "--model", "sima:claude-sim",
        "--user", user.username, stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    # Each answer is printed in one piece (not interleaved), under its model's label.
    assert alpha in text and claude in text
    assert "Let me think." in text
    assert re.search(r"Alpha .*sim:alpha", text) and re.search(
        r"Claude Sim .*sima:claude-sim", text
    )
    # Then a summary by label, and the link to the saved comparison.
    summary = text[text.index("Summary") :]
    assert "Alpha" in summary and "Claude Sim" in summary and "done" in summary
    assert re.search(r"Saved: http://127\.0\.0\.1:8000/c/\d+/", text)
    assert "\x1b" not in text  # not a terminal: no colours, no cursor moves


@pytest.mark.django_db(transaction=True)
def test_compare_in_a_terminal_says_a_failed_model(user, sim, sim_models):
    sim.set("alpha", Scenario(fault="auth"))
    out = io.StringIO()
    call_command("compare", "Hi", "--model", "sim:alpha", "--user", user.username, stdout=out)
    assert "authentication failed" in out.getvalue() and "error" in out.getvalue()


def test_model_output_cannot_drive_the_terminal():
    assert (
        terminal_safe("ok\x1b[2J\x1b]0;title\x07 done\r\nnext\tcol")
        == "ok[2J]0;title done\nnext\tcol"
    )
