"""The authoring pages, mounted at /suites/ before the results pages (playground.suites.urls)."""

from django.urls import path

from playground.suites import authoring

urlpatterns = [
    path("new/", authoring.suite_new, name="suite_new"),
    path("saved/", authoring.suite_list, name="suite_list"),
    path("<int:suite_id>/", authoring.suite_detail, name="suite_detail"),
    path("<int:suite_id>/estimate/", authoring.suite_estimate, name="suite_estimate"),
    path("from-history/", authoring.suite_from_history, name="suite_from_history"),
    path("repeat/<int:comparison_id>/", authoring.run_n, name="suite_run_n"),
]
