"""Business outcomes that end a request, each with the HTTP status the API maps it to.

    SmartbyError
    ├── InvalidInput        422  well-formed request, unacceptable content
    ├── Unauthenticated     401  no key, or a key that is not valid
    ├── Forbidden           403  a valid key without the scope or tenant for this route
    ├── NotFound            404
    ├── StateConflict       409  the request does not fit the resource's current state:
    │   ├── AlreadyExists        its id is taken
    │   ├── LimitReached         a per-tenant limit (e.g. API keys) would be exceeded
    │   └── ChangedMeanwhile     other writers kept changing it while it was served; retry
    └── Unavailable         503  a dependency (store, bus, key store) is down; retry later

Domain code raises these; `shared.api.problems` turns them into RFC 9457 problem+json.
"""

from __future__ import annotations


class SmartbyError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(SmartbyError):
    status = 422
    title = "Invalid input"


class Unauthenticated(SmartbyError):
    status = 401
    title = "Unauthenticated"


class Forbidden(SmartbyError):
    status = 403
    title = "Forbidden"


class NotFound(SmartbyError):
    status = 404
    title = "Not found"


class StateConflict(SmartbyError):
    status = 409
    title = "Conflict"


class AlreadyExists(StateConflict):
    pass


class LimitReached(StateConflict):
    pass


class ChangedMeanwhile(StateConflict):
    pass


class Unavailable(SmartbyError):
    status = 503
    title = "Service unavailable"
