from django.contrib import admin
from django.urls import include, path

from playground import views

urlpatterns = [
    path("", views.compare_page, name="compare"),
    path("c/<int:pk>/", views.comparison_detail, name="comparison"),
    path("history/", views.history, name="history"),
    path("estimate/", views.estimate, name="estimate"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
