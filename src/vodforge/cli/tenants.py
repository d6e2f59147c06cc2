"""`vodforge tenants create|rotate-key NAME`: API keys, printed once (only hashes are kept),
and a webhook secret when created with a webhook URL."""

from __future__ import annotations

import argparse

from vodforge.bootstrap import Components
from vodforge.cli.output import emit


def cmd_tenants_create(components: Components, args: argparse.Namespace) -> int:
    # The URL is checked (and refused, SSRF guard) before the tenant exists.
    webhook = components.webhooks.new_endpoint(args.webhook_url) if args.webhook_url else None
    tenant, api_key = components.tenants.create(args.name, webhook)
    result = {"tenant": tenant.name, "api_key": api_key}
    text = f"tenant {tenant.name} created\napi key (shown once): {api_key}"
    if webhook is not None:
        result["webhook_secret"] = webhook.secret
        text += f"\nwebhooks to {webhook.url}\nwebhook secret (shown once): {webhook.secret}"
    emit(result, as_json=args.json, text=text)
    return 0


def cmd_tenants_rotate_key(components: Components, args: argparse.Namespace) -> int:
    tenant, api_key = components.tenants.rotate_key(args.name)
    emit(
        {"tenant": tenant.name, "api_key": api_key},
        as_json=args.json,
        text=f"tenant {tenant.name}: new api key (shown once, the old one no longer works): "
        f"{api_key}",
    )
    return 0
