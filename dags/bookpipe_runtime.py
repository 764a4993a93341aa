"""How a bookpipe step runs: one factory, three runtimes, chosen by configuration.

`BOOKPIPE_RUNTIME` (an environment variable, or the Airflow Variable `bookpipe_runtime` given as
`AIRFLOW_VAR_BOOKPIPE_RUNTIME`) picks `kubernetes` (default), `ecs` or `local`. Everything else a
runtime needs comes from `BOOKPIPE_*` / `AIRFLOW_VAR_BOOKPIPE_*` environment variables, read when
the DAG is parsed (no database or network access at import time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

RUNTIMES = ("kubernetes", "ecs", "local")
# bookpipe's documented exit code for "the partition is already complete".
NOTHING_TO_DO = 3


def setting(name: str, default: str | None = None) -> str | None:
    """`BOOKPIPE_<NAME>` from the environment, else the Airflow Variable `bookpipe_<name>` as an
    environment variable, else `default`."""
    return os.environ.get(f"BOOKPIPE_{name}") or os.environ.get(f"AIRFLOW_VAR_BOOKPIPE_{name}") or default


def runtime_name() -> str:
    runtime = (setting("RUNTIME", "kubernetes") or "kubernetes").lower()
    if runtime not in RUNTIMES:
        raise ValueError(f"BOOKPIPE_RUNTIME={runtime!r}: expected one of {', '.join(RUNTIMES)}")
    return runtime


class LocalBookpipeOperator(BaseOperator):
    """Runs the `bookpipe` binary on the worker (development, and this project's end-to-end test).

    Exit code 3 ("nothing to do") is a skip; any other non-zero code fails the task. The binary's
    stderr (its JSON log lines) goes to the task log; its stdout is returned as the XCom.
    """

    template_fields: Sequence[str] = ("arguments", "env")

    def __init__(self, *, arguments: list, env: dict | None = None, binary: str = "bookpipe", **kwargs):
        super().__init__(**kwargs)
        self.arguments = arguments
        self.env = env
        self.binary = binary

    def execute(self, context):
        command = [shutil.which(self.binary) or self.binary, *[str(a) for a in self.arguments]]
        self.log.info("running %s", " ".join(command))
        done = subprocess.run(
            command, check=False, env={**os.environ, **(self.env or {})}, capture_output=True, text=True
        )
        for line in done.stderr.splitlines():
            self.log.info("%s", line)
        if done.returncode == NOTHING_TO_DO:
            raise AirflowSkipException("bookpipe: the partition is already complete (exit 3)")
        if done.returncode != 0:
            raise RuntimeError(f"bookpipe {self.arguments[0]} exited with {done.returncode}")
        return done.stdout.strip() or None


def kubernetes_task(step: str, arguments: list, **common):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import models as k8s

    secret_name = setting("K8S_SECRET", "bookpipe")
    return KubernetesPodOperator(
        image=setting("IMAGE", "bookpipe:latest"),
        name=f"bookpipe-{step}",
        namespace=setting("K8S_NAMESPACE", "data"),
        service_account_name=setting("K8S_SERVICE_ACCOUNT", "bookpipe"),
        arguments=arguments,
        env_vars={
            "BOOKPIPE_LAKE": setting("LAKE", "s3://bookpipe-lake/prod"),
            "BOOKPIPE_LOG_FORMAT": "json",
        },
        # The warehouse URL (with its password) and any AWS keys come from a Kubernetes secret,
        # never from the DAG.
        secrets=[
            Secret("env", "BOOKPIPE_WAREHOUSE", secret_name, "warehouse-url"),
        ],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "500m", "memory": "512Mi"},
            limits={"cpu": "2", "memory": "1Gi"},
        ),
        get_logs=True,
        on_finish_action="delete_pod",
        skip_on_exit_code=NOTHING_TO_DO,
        **common,
    )


def ecs_task(step: str, arguments: list, **common):
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    container = setting("ECS_CONTAINER", "bookpipe")
    subnets = [s for s in (setting("ECS_SUBNETS", "") or "").split(",") if s]
    security_groups = [s for s in (setting("ECS_SECURITY_GROUPS", "") or "").split(",") if s]
    return EcsRunTaskOperator(
        cluster=setting("ECS_CLUSTER", "bookpipe"),
        task_definition=setting("ECS_TASK_DEFINITION", "bookpipe"),
        launch_type="FARGATE",
        overrides={
            "containerOverrides": [
                {
                    "name": container,
                    "command": arguments,
                }
            ]
        },
        network_configuration={
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": security_groups, "assignPublicIp": "DISABLED"}
        },
        awslogs_group=setting("ECS_LOG_GROUP", "/ecs/bookpipe"),
        awslogs_region=setting("AWS_REGION", "eu-west-1"),
        awslogs_stream_prefix=f"ecs/{container}",
        # The container whose exit code decides (no waiting to discover it), and "nothing to do"
        # (exit 3) a skip, as on the other runtimes.
        container_name=container,
        skip_on_exit_code=NOTHING_TO_DO,
        **common,
    )


def local_task(step: str, arguments: list, **common):
    return LocalBookpipeOperator(arguments=arguments, binary=setting("BINARY", "bookpipe") or "bookpipe", **common)


FACTORIES = {"kubernetes": kubernetes_task, "ecs": ecs_task, "local": local_task}


def make_task(step: str, arguments: list, *, one_at_a_time=False, outlets=None, trigger_rule="all_success"):
    """The task that runs `bookpipe <arguments>` as step `step` in the configured runtime;
    `one_at_a_time`: at most one instance of it runs across all runs of the DAG."""
    common = {"task_id": step, "trigger_rule": trigger_rule, "outlets": outlets or []}
    if one_at_a_time:
        common["max_active_tis_per_dag"] = 1
    return FACTORIES[runtime_name()](step, arguments, **common)
