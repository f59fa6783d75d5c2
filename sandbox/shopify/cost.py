"""Query cost, as Shopify's calculated query costs describe it (a static estimate).

- a scalar or enum field costs 0; an object field 1 plus what is selected under it;
- a connection costs 2 plus ``first`` (or ``last``) times what one of its elements selects
  (``edges { node { ... } }`` or ``nodes { ... }``); ``pageInfo`` is free;
- a list of objects with a ``first`` argument is ``first`` times one element;
- each mutation field costs 10 (its payload selection is not counted).

The **requested** cost is computed from the document before running it; the **actual** cost
walks the response with the same rules, counting the elements really returned, and the
difference is given back to the bucket (Shopify does the same).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

MUTATION_COST = 10
SINGLE_QUERY_MAX = 1000


def _is_list(type_) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class CostCalculator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables or {}

    def operation(self, operation: OperationDefinitionNode, data: Any = None, *, actual=False):
        if operation.operation == OperationType.MUTATION:
            return MUTATION_COST * len(self._fields(operation.selection_set, None))
        root = self.schema.query_type
        return self._selection(operation.selection_set, root, data, actual)

    def _fields(self, selection_set, parent_type) -> list[FieldNode]:
        out: list[FieldNode] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                out.extend(self._fields(selection.selection_set, parent_type))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    out.extend(self._fields(fragment.selection_set, parent_type))
        return out

    def _int_arg(self, node: FieldNode, name: str) -> int | None:
        """A literal or variable Int argument (the document is validated already)."""
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return given if isinstance(given, int) and not isinstance(given, bool) else None
        return None

    def _field_def(self, parent_type, name: str):
        candidates = [parent_type]
        if not isinstance(parent_type, GraphQLObjectType):
            candidates = list(self.schema.get_possible_types(parent_type))
        for candidate in candidates:
            fields = getattr(candidate, "fields", {})
            if name in fields:
                return fields[name]
        return None

    def _selection(self, selection_set, parent_type, data, actual: bool) -> int:
        total = 0
        for node in self._fields(selection_set, parent_type):
            name = node.name.value
            if name.startswith("__"):
                continue
            field_def = self._field_def(parent_type, name)
            if field_def is None:
                continue
            named = get_named_type(field_def.type)
            if is_leaf_type(named) or name == "pageInfo":
                continue
            key = node.alias.value if node.alias else name
            value = data.get(key) if isinstance(data, dict) else None
            if actual and value is None:
                continue
            total += self._field(node, field_def, named, value, actual)
        return total

    def _field(self, node, field_def, named, value, actual: bool) -> int:
        if named.name.endswith("Connection"):
            if actual:
                return 2 + self._selection(node.selection_set, named, value, True)
            size = self._int_arg(node, "first") or self._int_arg(node, "last") or 0
            return 2 + size * self._selection(node.selection_set, named, None, False)
        if _is_list(field_def.type):
            if actual:
                return sum(
                    1 + self._selection(node.selection_set, named, element, True)
                    for element in value
                )
            first = self._int_arg(node, "first")
            size = first if first is not None else 1
            return size * (1 + self._selection(node.selection_set, named, None, False))
        return 1 + self._selection(node.selection_set, named, value, actual)
