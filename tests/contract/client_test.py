"""A client generated from docs/openapi.json by openapi-python-client (`cargo xtask contract`
generates it into target/contract/billcenter_client) does what a customer's integration does:
open an account, top it up exactly once under an Idempotency-Key, find the top-up in the
account's transactions, and read the API's refusals as the typed errors the document names.

Environment: BASE_URL, OPERATOR_KEY, ACCOUNT_KEY (a key of the demo account acme).
"""

import os
import sys
import uuid

from billcenter_client import AuthenticatedClient
from billcenter_client.api.accounts import create_account, get_account
from billcenter_client.api.funds import top_up
from billcenter_client.api.lists import get_list
from billcenter_client.models import (
    AccountView,
    Channel,
    CreateAccount,
    Error400,
    Error403,
    Error404,
    ListName,
    ListPage,
    TopUp,
    TopUpDone,
)

BASE = os.environ["BASE_URL"]
operator = AuthenticatedClient(base_url=BASE, token=os.environ["OPERATOR_KEY"], raise_on_unexpected_status=True)
customer = AuthenticatedClient(base_url=BASE, token=os.environ["ACCOUNT_KEY"], raise_on_unexpected_status=True)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# An account of its own, so that its transactions are only what this client did.
account_id = f"client-{uuid.uuid4().hex[:12]}"
made = create_account.sync(client=operator, body=CreateAccount(id=account_id, name="Generated client Ltd", currency="CNY"))
check(isinstance(made, AccountView) and made.id == account_id and made.cash == "0.00", f"the account is made: {made}")

# A top-up sent twice under one key moves money once.
key = str(uuid.uuid4())
first = top_up.sync(client=operator, account=account_id, body=TopUp(amount="123.45", channel=Channel.ONLINE), idempotency_key=key)
again = top_up.sync(client=operator, account=account_id, body=TopUp(amount="123.45", channel=Channel.ONLINE), idempotency_key=key)
check(isinstance(first, TopUpDone) and first.amount == "123.45" and first.cash == "123.45", f"the top-up is done: {first}")
check(isinstance(again, TopUpDone) and again.document == first.document, f"the same key answers the same top-up: {again}")
account = get_account.sync(client=operator, account=account_id)
check(isinstance(account, AccountView) and account.cash == "123.45", f"the cash is topped up once: {account}")

# The transactions list shows it, as strings of exact decimals.
page = get_list.sync(client=operator, account=account_id, list_=ListName.TRANSACTIONS, limit=10)
check(isinstance(page, ListPage) and page.list_ == "transactions" and page.currency == "CNY", f"a page of transactions: {page}")
rows = [r.additional_properties for r in page.items]
top_ups = [r for r in rows if r.get("type") == "top_up"]
check(len(top_ups) == 1, f"one top-up among {rows}")
check(any(v == "123.45" for v in top_ups[0].values()), f"of 123.45: {top_ups[0]}")
check(page.next_cursor is None, "one page")

# Refusals arrive as the document's typed errors.
bad = top_up.sync(client=operator, account=account_id, body=TopUp(amount="1e3"))
check(isinstance(bad, Error400) and bad.error.code == "invalid_input" and bad.error.field == "amount", f"an exponent is refused: {bad}")
other = get_list.sync(client=customer, account=account_id, list_=ListName.TRANSACTIONS)
check(isinstance(other, Error404), f"an account key sees no other account: {other}")
own = get_account.sync(client=customer, account="acme")
check(isinstance(own, AccountView) and own.id == "acme", f"an account key sees its own account: {own}")
denied = top_up.sync(client=customer, account="acme", body=TopUp(amount="1.00"))
check(isinstance(denied, Error403) and denied.error.code == "forbidden", f"an account key may not top up: {denied}")

print(f"generated client: {checks} checks passed")
