from django.urls import path

from playground.consumers import CompareConsumer
from playground.suites.consumers import SuiteConsumer

websocket_urlpatterns = [
    path("ws/compare/", CompareConsumer.as_asgi()),
    path("ws/suites/<int:suite_run_id>/", SuiteConsumer.as_asgi()),
]
