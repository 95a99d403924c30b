from django.contrib import admin
from django.urls import include, path

from playground import views

urlpatterns = [
    path("", views.compare_page, name="compare"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
