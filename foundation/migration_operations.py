"""Migration operations of our own."""

from __future__ import annotations

from django.db import migrations
from django.db.models import Field

# What a person reads about a field. Changing only these never changes the database (Django
# lists them among a field's ``non_db_attrs``).
LABELS = ("verbose_name", "help_text")


class RelabelField(migrations.AlterField):
    """An ``AlterField`` that changes only what a person reads about a field: its verbose name,
    its help text, the labels of its choices. No SQL (``AlterField`` would emit none either), and
    no re-rendering of the model and the models related to it, which ``AlterField`` does for
    each field. The translatable-labels migrations are 357 of these: as ``AlterField``\\s they
    took 17 of the 30 s of CPU that migrating an empty database took.

    Any other difference from the field as the state has it is refused when migrating, so the
    shortcut can never hide a change of the schema."""

    def state_forwards(self, app_label: str, state) -> None:
        model_key = app_label, self.model_name_lower
        fields = state.models[model_key].fields
        old = fields[self.name]
        _check_only_labels_differ(old, self.field, f"{app_label}.{self.model_name}.{self.name}")
        # As ProjectState.alter_field, with the model's relations kept in step.
        if state._relations is not None:
            del fields[self.name]
            if old.is_relation:
                state.resolve_model_field_relations(model_key, self.name, old)
            fields[self.name] = self.field
            if self.field.is_relation:
                state.resolve_model_field_relations(model_key, self.name, self.field)
        else:
            fields[self.name] = self.field
        # Not re-rendered: the rendered models (``state.apps``) keep the old labels, which no
        # SQL and no data migration reads. Marked delayed, the state is rendered afresh before
        # the next RunPython and at the end of ``migrate`` (``clear_delayed_apps_cache``), and a
        # later operation on the model reloads it from this state. (Reloading it here, even
        # delayed, re-rendered the ~70 models related to a merchant for every field.)
        state.is_delayed = True

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        pass  # labels live in the code only

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        pass

    def describe(self) -> str:
        return f"Relabel field {self.name} on {self.model_name}"


def _check_only_labels_differ(old: Field, new: Field, where: str) -> None:
    def schema(field: Field) -> tuple:
        _, path, args, kwargs = field.deconstruct()
        kwargs = {
            key: schema(value) if isinstance(value, Field) else value  # an ArrayField's base
            for key, value in kwargs.items()
            if key not in LABELS
        }
        return path, args, kwargs, _choice_values(kwargs.pop("choices", None) or ())

    if schema(old) != schema(new):
        raise ValueError(
            f"RelabelField on {where} changes more than its labels: "
            f"{schema(old)!r} -> {schema(new)!r}; use AlterField."
        )


def _choice_values(choices) -> list:
    """The values of choices, groups flattened (a group's name is a label too)."""
    values = []
    for value, label in choices:
        if isinstance(label, list | tuple):
            values.extend(_choice_values(label))
        else:
            values.append(value)
    return values
