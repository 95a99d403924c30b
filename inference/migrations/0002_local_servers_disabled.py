"""Existing installs: the seeded local servers (vLLM, Ollama) were enabled by default, so any
user could make the server send requests to localhost. Disable them once, where the admin
never configured them (no base URL or key of their own); an admin can enable them again,
and nothing disables them after that. load_catalog's report names them."""

from django.db import migrations

SEEDED_LOCAL_SERVERS = ("ollama", "vllm")


def disable_seeded_local_servers(apps, schema_editor):
    Provider = apps.get_model("inference", "Provider")
    Provider.objects.filter(
        slug__in=SEEDED_LOCAL_SERVERS,
        kind="openai",
        key_required=False,
        base_url="",
        api_key="",
        default_base_url__startswith="http://localhost:",
    ).update(enabled=False)


class Migration(migrations.Migration):
    dependencies = [("inference", "0001_initial")]

    operations = [migrations.RunPython(disable_seeded_local_servers, migrations.RunPython.noop)]
