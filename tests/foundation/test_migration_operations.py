"""RelabelField (foundation/migration_operations.py): an AlterField for labels only, cheap to
migrate, that refuses to carry any change of the schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import models
from django.db.migrations.state import ModelState, ProjectState

from foundation.migration_operations import RelabelField


def state_with_a_status_field() -> ProjectState:
    state = ProjectState(real_apps=set())
    state.add_model(
        ModelState(
            "shop",
            "parcel",
            [
                ("id", models.AutoField(primary_key=True)),
                (
                    "status",
                    models.CharField(
                        max_length=20,
                        choices=[("open", "open"), ("done", "done")],
                        verbose_name="status",
                    ),
                ),
            ],
        )
    )
    return state


def test_a_relabelled_field_has_its_new_labels_in_the_state_and_the_rendered_model():
    state = state_with_a_status_field()
    state.apps  # rendered, as during `migrate`  # noqa: B018
    RelabelField(
        model_name="parcel",
        name="status",
        field=models.CharField(
            max_length=20,
            choices=[("open", "Open"), ("done", "Shipped")],
            verbose_name="parcel status",
            help_text="Where the parcel is.",
        ),
    ).state_forwards("shop", state)

    field = state.models["shop", "parcel"].fields["status"]
    assert field.verbose_name == "parcel status" and field.choices[1] == ("done", "Shipped")
    state.clear_delayed_apps_cache()  # as migrate does before it uses the final models
    rendered = state.apps.get_model("shop", "parcel")._meta.get_field("status")
    assert rendered.verbose_name == "parcel status" and rendered.help_text == "Where the parcel is."


@pytest.mark.parametrize(
    "changed",
    [
        models.CharField(max_length=40, choices=[("open", "Open"), ("done", "Done")]),
        models.CharField(max_length=20, choices=[("open", "Open"), ("shipped", "Done")]),
        models.CharField(max_length=20, null=True, choices=[("open", "Open"), ("done", "Done")]),
        models.TextField(choices=[("open", "Open"), ("done", "Done")]),
    ],
    ids=["length", "a choice's value", "null", "type"],
)
def test_a_change_beyond_the_labels_is_refused_when_migrating(changed):
    operation = RelabelField(model_name="parcel", name="status", field=changed)
    with pytest.raises(ValueError, match="changes more than its labels"):
        operation.state_forwards("shop", state_with_a_status_field())


@pytest.mark.django_db
def test_the_migrations_leave_the_models_exactly_as_the_code_has_them():
    # Every app's migrations, RelabelField's included, end in the models' own state: nothing
    # for makemigrations to write.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
