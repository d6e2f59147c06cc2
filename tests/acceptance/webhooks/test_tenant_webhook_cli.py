"""`vodforge tenants create NAME --webhook-url URL` as a subprocess: the secret is printed
once and signs what the tenant receives; a URL the SSRF guard refuses creates nothing."""

from __future__ import annotations

from pathlib import Path

from standardwebhooks import Webhook

from tests.support.cli import cli_env, run_cli, run_json
from tests.support.webhooks import Receiver, make_failed
from vodforge.db.engine import make_engine
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import TenantRepository
from vodforge.webhooks.delivery import WebhookDeliverer
from vodforge.webhooks.repository import WebhookRepository


class NoVideoJson:
    """The deliverer's describer; this test checks the signature, not the video JSON."""

    def describe(self, video: object, tenant_name: str | None = None) -> dict[str, object]:
        return {"id": getattr(video, "id", None), "job": None}


def test_create_with_a_webhook_url_prints_the_secret_once(tmp_path: Path, hook: Receiver) -> None:
    database = f"sqlite:///{tmp_path / 'vodforge.db'}"
    env = cli_env(database, tmp_path)
    created = run_json(["tenants", "create", "acme", "--webhook-url", hook.url], env)
    assert set(created) == {"tenant", "api_key", "webhook_secret"}
    assert created["webhook_secret"].startswith("whsec_")
    plain = run_json(["tenants", "create", "plain"], env)
    assert set(plain) == {"tenant", "api_key"}

    engine = make_engine(database)
    try:
        tenants = TenantRepository(engine)
        tenant = tenants.by_name("acme")
        assert tenant is not None and tenant.webhook_url == hook.url
        make_failed(JobRepository(engine), tenant)
        deliverer = WebhookDeliverer(
            WebhookRepository(engine), tenants, NoVideoJson(), allow_private=True
        )
        deliverer.deliver_due()
        deliverer.close()
    finally:
        engine.dispose()
    [request] = hook.received
    body = Webhook(created["webhook_secret"]).verify(request.body, request.headers)
    assert body["type"] == "video.failed"


def test_a_refused_url_creates_nothing(tmp_path: Path) -> None:
    env = cli_env(
        f"sqlite:///{tmp_path / 'vodforge.db'}", tmp_path, VODFORGE_WEBHOOK_ALLOW_PRIVATE="false"
    )
    refused = run_cli(
        ["tenants", "create", "acme", "--webhook-url", "http://169.254.169.254/latest"], env
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("error: INVALID_REQUEST:")
    assert "link-local" in refused.stderr
    # The name is still free: nothing was created.
    assert run_json(["tenants", "create", "acme"], env)["tenant"] == "acme"
