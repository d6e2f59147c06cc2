"""Standard Webhooks signing: `whsec_` secrets and the webhook-id/-timestamp/-signature headers."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

from vodforge import __version__

SECRET_PREFIX = "whsec_"
USER_AGENT = f"vodforge/{__version__} (webhooks)"


def new_secret() -> str:
    """24 random bytes, base64, with the prefix every Standard Webhooks library accepts."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(secret: str, message_id: str, body: str, at: float) -> dict[str, str]:
    """The headers of one attempt: the signature covers `id.timestamp.body`, and the timestamp
    is the attempt's own (receivers reject old ones), so it is signed afresh every time."""
    timestamp = int(at)
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
