"""API tokens keep only the SHA-256 of their key (and its first characters for display)."""
import hashlib

from django.db import migrations, models


def hash_existing_keys(apps, schema_editor):  # noqa: ANN001
    ApiToken = apps.get_model("core", "ApiToken")
    for token in ApiToken.objects.all():
        token.key_hash = hashlib.sha256(token.key.encode()).hexdigest()
        token.prefix = token.key[:6]
        token.save(update_fields=["key_hash", "prefix"])


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        migrations.AddField("apitoken", "key_hash", models.CharField(max_length=64, null=True)),
        migrations.AddField("apitoken", "prefix", models.CharField(max_length=8, default="")),
        migrations.RunPython(hash_existing_keys, migrations.RunPython.noop),
        migrations.AlterField("apitoken", "key_hash", models.CharField(max_length=64, unique=True)),
        migrations.AlterField("apitoken", "prefix", models.CharField(max_length=8)),
        migrations.RemoveField("apitoken", "key"),
    ]
