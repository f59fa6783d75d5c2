from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0002_row_level_security")]

    operations = [
        migrations.CreateModel(
            name="AmazonRateBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=200, unique=True)),
                ("tokens", models.FloatField()),
                ("updated_at", models.DateTimeField()),
            ],
        ),
    ]
