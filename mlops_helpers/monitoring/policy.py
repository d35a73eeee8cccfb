"""The `monitoring:` section of mlops.yaml: what a check looks at and when it asks for retraining.

Defaults are chosen so that `monitoring: {}` is useful: the last hour of logged predictions of the
version serving in the deploy environment, drift by the sample-size-aware defaults of
monitoring/drift.py, retraining when half the features drift, live accuracy falls 5 points below
the model's hold-out accuracy, or the data has a new DVC version — at most once per 6 hours.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlops_helpers.rollout.spec import Duration, Spec, camel

TRIGGERS = ("drift", "accuracy", "data_change")
# The thresholds monitoring/drift.py knows (its DEFAULT_THRESHOLDS; a test keeps the two equal).
THRESHOLD_NAMES = ("psi", "ks", "chi2", "wasserstein", "jensenshannon", "null_rate")


class AccuracyPolicy(Spec):
    min: float | None = Field(default=None, ge=0, le=1,
                              description="live accuracy below this asks for retraining (default: hold-out accuracy - max_drop)")
    max_drop: float = Field(default=0.05, ge=0, le=1, validation_alias=camel("max_drop"),
                            description="allowed fall from the model's hold-out accuracy when `min` is not set")
    min_feedback: int = Field(default=100, ge=1, validation_alias=camel("min_feedback"),
                              description="fewer feedback rows in the window: insufficient data, no verdict")


class JenkinsAction(Spec):
    url: str = Field(description="Jenkins URL, e.g. http://jenkins:8080")
    job: str = Field(min_length=1, description="the pipeline to build, e.g. ml/churn/main")
    user_env: str = Field(default="JENKINS_USER", validation_alias=camel("user_env"),
                          description="environment variable holding the Jenkins user")
    token_env: str = Field(default="JENKINS_API_TOKEN", validation_alias=camel("token_env"),
                           description="environment variable holding the user's API token")
    parameters: dict[str, str] = Field(default_factory=dict, description="extra build parameters")


class TriggerPolicy(Spec):
    # Not `on:` — YAML 1.1 reads a bare `on` key as the boolean true.
    when: list[Literal[TRIGGERS]] = Field(default_factory=lambda: list(TRIGGERS),  # type: ignore[valid-type]
                                          description="which findings ask for retraining")
    action: Literal["none", "run", "jenkins"] = Field(
        default="none", description="none: report only; run: `mlops run` here; jenkins: build the pipeline")
    cooldown: Duration = Field(default=6 * 3600.0, ge=0, description="no second retraining within this time")
    jenkins: JenkinsAction | None = Field(default=None, description="the pipeline to build for action: jenkins")

    @model_validator(mode="after")
    def _jenkins_needs_target(self) -> TriggerPolicy:
        if self.action == "jenkins" and self.jenkins is None:
            raise ValueError("action: jenkins needs a `jenkins:` section (url, job)")
        return self


class MonitoringConfig(Spec):
    environment: str | None = Field(default=None, description="deploy environment to watch (default: deploy.environment)")
    window: Duration = Field(default=3600.0, gt=0, description="predictions logged in this time before the check")
    max_rows: int = Field(default=1_000_000, ge=1, validation_alias=camel("max_rows"),
                          description="newest rows read from the window at most (bounded work and memory)")
    min_samples: int = Field(default=200, ge=1, validation_alias=camel("min_samples"),
                             description="fewer rows: insufficient data, never 'no drift'")
    drift_share: float = Field(default=0.5, gt=0, le=1, validation_alias=camel("drift_share"),
                               description="share of drifted features that raises the overall drift alarm")
    numeric_method: Literal["auto", "psi", "ks", "wasserstein", "jensenshannon"] = Field(
        default="auto", validation_alias=camel("numeric_method"),
        description="auto: KS test in small windows, Wasserstein distance (confirmed by KS) in large ones")
    categorical_method: Literal["auto", "chi2", "psi", "jensenshannon"] = Field(
        default="auto", validation_alias=camel("categorical_method"),
        description="auto: chi-square test in small windows, Jensen-Shannon distance (confirmed) in large ones")
    thresholds: dict[str, float] = Field(default_factory=dict,
                                         description="per method, e.g. {psi: 0.25}; unset: the defaults of drift.py")
    accuracy: AccuracyPolicy = Field(default_factory=AccuracyPolicy,
                                     description="live accuracy from ground-truth feedback (POST /feedback)")
    trigger: TriggerPolicy = Field(default_factory=TriggerPolicy,
                                   description="what a retrain verdict does, with cool-down and de-duplication")
    interval: Duration = Field(default=600.0, gt=0, description="time between checks of `mlops monitor watch`")
    state_dir: str = Field(default=".mlops/monitor", validation_alias=camel("state_dir"),
                           description="check history and trigger records, relative to mlops.yaml")

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for name, value in thresholds.items():
            if name not in THRESHOLD_NAMES:
                raise ValueError(f"unknown threshold {name!r} (known: {', '.join(THRESHOLD_NAMES)})")
            if value <= 0 or (name in ("ks", "chi2") and value >= 1):
                raise ValueError(f"{name}: {value} is not valid: must be > 0" + (" and < 1 (a significance level)"
                                                                                  if name in ("ks", "chi2") else ""))
        return thresholds
