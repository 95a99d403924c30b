from django.urls import include, path

# Battles and votes (battle_urls), leaderboards and the decision view (board_urls).
urlpatterns = [
    path("", include("playground.arena.battle_urls")),
    path("", include("playground.arena.board_urls")),
]
