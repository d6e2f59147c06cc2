"""Publishes the scaling signal to Amazon CloudWatch, where an autoscaling policy (target
tracking on `BacklogCount`, as the seeds settled on) can read it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Counts of jobs and workers: CloudWatch's unit for a plain number.
UNIT = "Count"


class CloudWatchMetrics:
    """put_metric_data into one namespace. The endpoint and region come from boto3's own
    configuration (AWS_ENDPOINT_URL_CLOUDWATCH, AWS_DEFAULT_REGION, ...), so a local stand-in
    such as moto's server needs no vodforge setting."""

    def __init__(self, namespace: str, *, client: Any = None) -> None:
        if not namespace:
            raise ValueError("a CloudWatch namespace is required")
        self.namespace = namespace
        self._client = client

    def _cloudwatch(self) -> Any:
        # Built on first use: boto3 is imported, and credentials looked up, only by
        # deployments that publish.
        if self._client is None:
            import boto3.session  # type: ignore[import-untyped, unused-ignore]
            from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5)
            self._client = boto3.session.Session().client("cloudwatch", config=config)
        return self._client

    def publish(self, values: Mapping[str, float], *, timestamp: float | None = None) -> None:
        """One put_metric_data call with every value (CloudWatch takes up to 1000 at once)."""
        data: list[dict[str, Any]] = []
        for name, value in values.items():
            datum: dict[str, Any] = {"MetricName": name, "Value": float(value), "Unit": UNIT}
            if timestamp is not None:
                datum["Timestamp"] = datetime.fromtimestamp(timestamp, UTC)
            data.append(datum)
        self._cloudwatch().put_metric_data(Namespace=self.namespace, MetricData=data)
