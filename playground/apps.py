from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Comparisons"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from playground import checks, signals  # noqa: F401  (registers checks and receivers)
