from django.contrib import admin
from django.urls import include, path

from playground import views

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
    path("estimate/", views.estimate, name="estimate"),
    path("accounts/data/", views.my_data, name="my_data"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
