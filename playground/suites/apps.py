from django.apps import AppConfig


class SuitesConfig(AppConfig):
    name = "playground.suites"
    label = "suites"
    verbose_name = "Suites"
    default_auto_field = "django.db.models.BigAutoField"
