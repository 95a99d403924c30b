from django.urls import path

from playground.suites import views

urlpatterns = [
    path("", views.suite_run_list, name="suite_runs"),
    path("runs/<int:pk>/", views.suite_run_detail, name="suite_run"),
    path("runs/<int:pk>/cancel/", views.suite_run_cancel, name="suite_run_cancel"),
]
