"""The authoring pages: a new suite (pasted or uploaded), a suite's page with its versions,
cases and the form that starts a run, the list of the user's suites, "Save as suite" from
the history and a comparison's "Run xN". Thin views over services, forms and library."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inference.catalog import model_choices
from playground.models import Comparison
from playground.suites import library, services
from playground.suites.conf import suite_settings
from playground.suites.forms import RunNForm, SaveAsSuiteForm, SuiteNewForm, SuiteRunForm
from playground.suites.models import Suite
from playground.suites.services import RunEstimate, SuiteRefused


def _user(request: HttpRequest) -> AbstractBaseUser:
    """The logged-in user (LoginRequiredMiddleware keeps anonymous visitors out)."""
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        raise Http404("Log in first.")
    return user


def _suite(request: HttpRequest, suite_id: int) -> Suite:
    try:
        return library.suite_for(user=_user(request), suite_id=suite_id)
    except Suite.DoesNotExist:
        raise Http404("No such suite.") from None


@require_http_methods(["GET", "POST"])
def suite_new(request: HttpRequest) -> HttpResponse:
    """Paste or upload cases and name them; a bad file saves nothing and says where."""
    if request.method != "POST":
        return render(request, "suites/new.html", {"form": SuiteNewForm()})
    form = SuiteNewForm(request.POST, request.FILES)
    if form.is_valid():
        cases = form.cleaned_data["cases"]
        try:
            suite = services.suite_create(
                user=_user(request), name=form.cleaned_data["name"], cases=cases
            )
        except SuiteRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Saved {suite}: {len(cases)} case{'s' if len(cases) != 1 else ''}, "
                f"read as {form.cleaned_data['read_as']}.",
            )
            return redirect("suite_detail", suite_id=suite.pk)
    return render(request, "suites/new.html", {"form": form})  # the form again, with its errors


@require_GET
def suite_list(request: HttpRequest) -> HttpResponse:
    groups = library.suites_of(user=_user(request))
    return render(request, "suites/suite_list.html", {"groups": groups})


def _estimate(
    request: HttpRequest, suite: Suite, form: SuiteRunForm
) -> tuple[RunEstimate | None, str]:
    """The run's estimate from a valid form, or what keeps it from being worked out."""
    if not form.is_valid():
        if "models" in form.errors and not form.data.get("models"):
            return None, "Pick models to see the estimate."
        return None, " ".join(form.error_list())
    try:
        estimate = services.suite_run_estimate(
            user=_user(request),
            suite=suite,
            models=form.model_specs(),
            repeats=form.cleaned_data["repeats"],
        )
    except SuiteRefused as exc:
        return None, str(exc)
    return estimate, ""


def _detail_context(suite: Suite, form: SuiteRunForm) -> dict[str, Any]:
    cases, case_total = library.suite_cases(suite=suite)
    return {
        "suite": suite,
        "versions": library.suite_versions(suite=suite),
        "cases": cases,
        "case_total": case_total,
        "suite_runs": library.suite_runs(suite=suite),
        "form": form,
        "limits": suite_settings(),
    }


@require_http_methods(["GET", "POST"])
def suite_detail(request: HttpRequest, suite_id: int) -> HttpResponse:
    """A suite's cases and versions, and the form that starts a run of it; a refused run
    (a limit, a model that cannot run) says why beside the form and saves nothing."""
    suite = _suite(request, suite_id)
    choices = model_choices()
    if request.method != "POST":
        form = SuiteRunForm(choices=choices)
        context = _detail_context(suite, form)
        context["estimate_error"] = "Pick models to see the estimate."
        return render(request, "suites/suite_detail.html", context)
    form = SuiteRunForm(request.POST, choices=choices)
    refused = ""
    if form.is_valid():
        try:
            suite_run = services.suite_run_start(
                user=_user(request),
                suite=suite,
                models=form.model_specs(),
                repeats=form.cleaned_data["repeats"],
                concurrency=form.cleaned_data.get("concurrency"),
                provider_concurrency=form.provider_concurrency(),
            )
        except SuiteRefused as exc:
            refused = str(exc)
        else:
            return redirect("suite_run", pk=suite_run.pk)
    estimate, estimate_error = _estimate(request, suite, form)
    context = _detail_context(suite, form)
    context.update(refused=refused, estimate=estimate, estimate_error=estimate_error)
    return render(request, "suites/suite_detail.html", context)


@require_POST
def suite_estimate(request: HttpRequest, suite_id: int) -> HttpResponse:
    """The run form's estimate line (an htmx fragment): answers, most cost, the limit."""
    suite = _suite(request, suite_id)
    form = SuiteRunForm(request.POST, choices=model_choices())
    estimate, error = _estimate(request, suite, form)
    context = {"estimate": estimate, "estimate_error": error}
    return render(request, "suites/_suite_estimate.html", context)


@require_POST
def suite_from_history(request: HttpRequest) -> HttpResponse:
    """The history's "Save as suite": each ticked comparison's first prompt becomes a case."""
    form = SaveAsSuiteForm(request.POST)
    if not form.is_valid():
        text = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, text)
        return redirect("history")
    try:
        suite = services.suite_from_comparisons(
            user=_user(request),
            name=form.cleaned_data["name"],
            comparison_ids=form.cleaned_data["comparison_ids"],
        )
    except SuiteRefused as exc:
        messages.error(request, str(exc))
        return redirect("history")
    count = len(form.cleaned_data["comparison_ids"])
    messages.success(
        request, f"Saved {suite}: {count} case{'s' if count != 1 else ''} from the history."
    )
    return redirect("suite_detail", suite_id=suite.pk)


@require_POST
def run_n(request: HttpRequest, comparison_id: int) -> HttpResponse:
    """A comparison's "Run xN": its first prompt N times on its panels, as a suite run."""
    user = _user(request)
    comparison = Comparison.objects.filter(pk=comparison_id, owner_id=user.pk).first()
    if comparison is None:
        raise Http404("No such comparison.")
    form = RunNForm(request.POST)
    if form.is_valid():
        try:
            suite_run = services.suite_run_repeat(
                user=user, comparison_id=comparison.pk, repeats=form.cleaned_data["n"]
            )
        except Comparison.DoesNotExist:
            raise Http404("No such comparison.") from None
        except SuiteRefused as exc:
            error = str(exc)
        else:
            return redirect("suite_run", pk=suite_run.pk)
    else:
        error = " ".join(str(e) for e in form.errors.get("n", []))
    context = {"comparison": comparison, "run_n_error": error, "run_n_value": form.data.get("n")}
    return render(request, "suites/run_n.html", context)
