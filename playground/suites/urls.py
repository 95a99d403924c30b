from django.urls import path

from playground.suites import views

urlpatterns = [
    path("", views.suite_run_list, name="suite_runs"),
    path("runs/<int:pk>/", views.suite_run_detail, name="suite_run"),
    path("runs/<int:pk>/cancel/", views.suite_run_cancel, name="suite_run_cancel"),
    path("runs/<int:pk>/export.<str:fmt>", views.suite_run_export, name="suite_run_export"),
    path("shared/<str:token>/", views.suite_shared, name="suite_shared"),
    path(
        "shared/<str:token>/export.<str:fmt>",
        views.suite_shared_export,
        name="suite_shared_export",
    ),
]
