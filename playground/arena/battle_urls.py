from django.urls import URLPattern, URLResolver, path

from playground.arena import battle_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("battles/<int:pk>/vote/", battle_views.vote, name="arena_battle_vote"),
]
