"""Hooks of the contract test. A real client sends a fresh Idempotency-Key with each new
request: in a request the document allows, a generated key is replaced by a random one (a
request made to break the document keeps what it was given)."""

import json
import uuid

import schemathesis
from schemathesis.core import NOT_SET


TEXT_BODIES = ("application/toml", "application/x-ndjson")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    # On the wire a text body is text whatever was generated: a JSON value made to be "not a
    # string" arrives as the string of its JSON, and is judged as that string.
    if case.media_type in TEXT_BODIES and case.body is not NOT_SET and not isinstance(case.body, (str, bytes)):
        case.body = json.dumps(case.body)


# A catalog (TOML) and usage records (NDJSON) are text bodies; a tax invoice's PDF is bytes.
schemathesis.serializer.alias(["application/toml", "application/x-ndjson"], "text/plain")
schemathesis.serializer.alias(["application/pdf"], "application/octet-stream")
