"""Hooks of the contract test. A real client sends a fresh Idempotency-Key with each new
request: in a request the document allows, a generated key is replaced by a random one (a
request made to break the document keeps what it was given)."""

import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())


# A catalog (TOML) and usage records (NDJSON) are text bodies.
schemathesis.serializer.alias(["application/toml", "application/x-ndjson"], "text/plain")
