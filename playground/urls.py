from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import include, path

from playground import views

# Password reset sends mail: mounted only when mail is configured (EMAIL_URL).
PASSWORD_RESET_ROUTES = {
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}
account_urls = [
    route
    for route in auth_urls.urlpatterns
    if settings.PASSWORD_RESET_ENABLED or getattr(route, "name", None) not in PASSWORD_RESET_ROUTES
]

urlpatterns = [
    path("", views.compare_page, name="compare"),
    path("c/<int:pk>/", views.comparison_detail, name="comparison"),
    path("c/<int:pk>/share/", views.share, name="share"),
    path("c/<int:pk>/unshare/", views.unshare, name="unshare"),
    path("c/<int:pk>/export.<str:fmt>", views.export, name="export"),
    path("c/<int:pk>/delete/", views.delete_comparison, name="delete_comparison"),
    path("s/<str:token>/", views.shared_comparison, name="shared"),
    path("s/<str:token>/export.<str:fmt>", views.shared_export, name="shared_export"),
    path("history/", views.history, name="history"),
    path("suites/", include("playground.suites.authoring_urls")),
    path("suites/", include("playground.suites.urls")),
    path("arena/", include("playground.arena.urls")),
    path("estimate/", views.estimate, name="estimate"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/data/", views.my_data, name="my_data"),
    path("accounts/", include(account_urls)),
    path("admin/", admin.site.urls),
]
