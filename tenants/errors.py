"""Tenancy errors with stable codes."""

from foundation.api.errors import DomainError


class InvalidApiKeyOwner(DomainError):
    code = "validation_error"
    status = 422
    title = "The API key's owner is not valid"


class UnknownScope(DomainError):
    code = "validation_error"
    status = 422
    title = "Unknown API scope"


class NotEditable(DomainError):
    code = "validation_error"
    status = 422
    title = "This field cannot be changed"
