"""How a bookpipe step runs: one factory, three runtimes, chosen by configuration.

`BOOKPIPE_RUNTIME` (an environment variable, or the Airflow Variable `bookpipe_runtime` given as
`AIRFLOW_VAR_BOOKPIPE_RUNTIME`) picks `kubernetes` (default), `ecs` or `local`. Everything else a
runtime needs comes from `BOOKPIPE_*` / `AIRFLOW_VAR_BOOKPIPE_*` environment variables, read when
the DAG is parsed (no database or network access at import time).

Every runtime reads bookpipe's exit codes the same way: 3 ("nothing to do", the partition is
complete) skips the task; 2 ("bad input": a flag is wrong, or a fetch of a past day was refused)
and 5 ("refused by load's quality gate": the day's data looks wrong, nothing was loaded) fail it at
once, without the retries meant for transient failures (a retry would get the same answer); any
other failure is retried.

**Lineage.** Every runtime gives the container the OpenLineage parent of its run — the Airflow task
instance, and the DAG run as the root — rendered by the OpenLineage provider's macros
(`OPENLINEAGE_PARENT_ID`, `OPENLINEAGE_ROOT_PARENT_ID`), with the provider's namespace, and the
receiver (`OPENLINEAGE_URL`, `OPENLINEAGE_ENDPOINT`) the scheduler's environment names; bookpipe then
sends START and COMPLETE/FAIL events that a catalog links to the Airflow task. Without the provider,
or with it disabled, the parent variables render empty and bookpipe's events name no parent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

RUNTIMES = ("kubernetes", "ecs", "local")
# bookpipe's documented exit codes (README: exit codes).
BAD_INPUT = 2
NOTHING_TO_DO = 3
REFUSED_BY_THE_GATE = 5
# Exit codes no retry can change: fail the task at once.
NOT_RETRYABLE = {
    BAD_INPUT: "refused its input (exit 2)",
    REFUSED_BY_THE_GATE: "was refused by the quality gate (exit 5): nothing was loaded; look at the day's "
    "quality/…/checks.json, and accept a real drop with a run whose conf has accept_drop: true",
}
# Where a pod finds the warehouse password (a Kubernetes secret mounted as a file).
PASSWORD_DIR = "/var/run/secrets/bookpipe"
PASSWORD_KEY = "warehouse-password"
# An image reference that cannot move under a deployment: a digest, or a tag other than `latest`.
PINNED_IMAGE = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$|^[^\s@]+:(?!latest$)[\w][\w.-]{0,127}$")


def setting(name: str, default: str | None = None) -> str | None:
    """`BOOKPIPE_<NAME>` from the environment, else the Airflow Variable `bookpipe_<name>` as an
    environment variable, else `default`."""
    return os.environ.get(f"BOOKPIPE_{name}") or os.environ.get(f"AIRFLOW_VAR_BOOKPIPE_{name}") or default


def runtime_name() -> str:
    runtime = (setting("RUNTIME", "kubernetes") or "kubernetes").lower()
    if runtime not in RUNTIMES:
        raise ValueError(f"BOOKPIPE_RUNTIME={runtime!r}: expected one of {', '.join(RUNTIMES)}")
    return runtime


def pinned_image() -> str:
    """`BOOKPIPE_IMAGE`, which must name an immutable image: `repo@sha256:<digest>` or `repo:<tag>`
    with a tag other than `latest` (a task retried an hour later must run the same code)."""
    image = setting("IMAGE")
    if not image or not PINNED_IMAGE.match(image):
        raise ValueError(
            f"BOOKPIPE_IMAGE={image!r}: give the bookpipe image by digest (repo@sha256:...) or by an immutable "
            "version tag (repo:1.4.0), not :latest"
        )
    return image


# The OpenLineage provider's macros, each guarded: the plugin registers them only when it is installed
# and enabled, and an empty value tells bookpipe there is no parent.
_MACROS = "macros.OpenLineageProviderPlugin"
_GUARDED = "{{{{ {m}.{fn}(task_instance) if macros is defined and {m} is defined else '' }}}}"
LINEAGE_TEMPLATES = {
    "OPENLINEAGE_PARENT_ID": _GUARDED.format(m=_MACROS, fn="lineage_parent_id"),
    "OPENLINEAGE_ROOT_PARENT_ID": _GUARDED.format(m=_MACROS, fn="lineage_root_parent_id"),
    "OPENLINEAGE_NAMESPACE": (
        f"{{{{ {_MACROS}.lineage_job_namespace() if macros is defined and {_MACROS} is defined else 'default' }}}}"
    ),
}
# The receiver the scheduler's environment names, passed on as it is (never an API key: that belongs
# in the container's secret, as BOOKPIPE_LINEAGE_API_KEY).
LINEAGE_PASSED_ON = ("OPENLINEAGE_URL", "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_DISABLED")


def lineage_env() -> dict[str, str]:
    """The container's OpenLineage variables: the parent run rendered per task instance, the receiver
    as the environment names it when the DAG is parsed."""
    passed = {name: os.environ[name] for name in LINEAGE_PASSED_ON if os.environ.get(name)}
    return {**passed, **LINEAGE_TEMPLATES}


def lake_uri() -> str:
    """The lake's URI as the tasks see it (`BOOKPIPE_LAKE`, the Kubernetes runtime's default else): an
    `s3://` URI as it is, a local path as an absolute `file://` URI."""
    lake = (setting("LAKE", "s3://bookpipe-lake/prod") or "").rstrip("/")
    if lake.startswith("s3://"):
        return lake
    path = lake.removeprefix("file://")
    return "file://" + os.path.abspath(path)


def outcome(step: str, exit_code: int | None, detail: str) -> None:
    """Raises what Airflow should do with a failed container's exit code."""
    if exit_code == NOTHING_TO_DO:
        raise AirflowSkipException(f"bookpipe {step}: the partition is already complete (exit 3)")
    if exit_code in NOT_RETRYABLE:
        raise AirflowFailException(f"bookpipe {step} {NOT_RETRYABLE[exit_code]}, which no retry can change: {detail}")
    raise AirflowException(f"bookpipe {step} exited with {exit_code}: {detail}")


class LocalBookpipeOperator(BaseOperator):
    """Runs the `bookpipe` binary on the worker (development, and this project's end-to-end tests).

    The binary's stderr (its JSON log lines) goes to the task log; its stdout is returned as the XCom.
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
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or [""]
            outcome(self.arguments[0], done.returncode, last[0])
        return done.stdout.strip() or None


def kubernetes_task(step: str, arguments: list, **common):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.secret import Secret
    from kubernetes.client import models as k8s

    class BookpipePodOperator(KubernetesPodOperator):
        """Exits 2 and 5 fail without retries (the provider skips on `skip_on_exit_code`, 3, itself)."""

        def cleanup(self, pod, remote_pod, xcom_result=None, context=None):
            try:
                super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
            except AirflowSkipException:
                raise
            except AirflowException as failure:
                statuses = (remote_pod.status.container_statuses if remote_pod and remote_pod.status else None) or []
                base = next((s for s in statuses if s.name == self.base_container_name), None)
                terminated = base.state.terminated if base and base.state else None
                if terminated and terminated.exit_code in NOT_RETRYABLE:
                    raise AirflowFailException(
                        f"bookpipe {step} {NOT_RETRYABLE[terminated.exit_code]}: {failure}"
                    ) from failure
                raise

    secret_name = setting("K8S_SECRET", "bookpipe")
    return BookpipePodOperator(
        image=pinned_image(),
        name=f"bookpipe-{step}",
        namespace=setting("K8S_NAMESPACE", "data"),
        service_account_name=setting("K8S_SERVICE_ACCOUNT", "bookpipe"),
        arguments=arguments,
        env_vars={
            "BOOKPIPE_LAKE": setting("LAKE", "s3://bookpipe-lake/prod"),
            "BOOKPIPE_LOG_FORMAT": "json",
            # Spill files of transform's sorted writers go to the writable /tmp volume.
            "TMPDIR": "/tmp",
            "BOOKPIPE_WAREHOUSE_PASSWORD_FILE": f"{PASSWORD_DIR}/{PASSWORD_KEY}",
            **lineage_env(),
        },
        # The warehouse URL (no password in it) comes from the secret as an env var; the password
        # as a file only this container mounts, read-only: never in the pod spec or the env.
        secrets=[
            Secret("env", "BOOKPIPE_WAREHOUSE", secret_name, "warehouse-url"),
            Secret(
                "volume",
                PASSWORD_DIR,
                secret_name,
                items=[k8s.V1KeyToPath(key=PASSWORD_KEY, path=PASSWORD_KEY, mode=0o400)],
            ),
        ],
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=65532,
            run_as_group=65532,
            fs_group=65532,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        volumes=[k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="2Gi"))],
        volume_mounts=[k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
            limits={"cpu": "2", "memory": "1Gi", "ephemeral-storage": "3Gi"},
        ),
        get_logs=True,
        on_finish_action="delete_pod",
        skip_on_exit_code=NOTHING_TO_DO,
        **common,
    )


def ecs_task(step: str, arguments: list, **common):
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    class BookpipeEcsOperator(EcsRunTaskOperator):
        """Exits 2 and 5 fail without retries (the provider skips on `skip_on_exit_code`, 3, itself)."""

        def _check_success_task(self) -> None:
            try:
                super()._check_success_task()
            except AirflowSkipException:
                raise
            except AirflowException as failure:
                if self.client and self.arn:
                    described = self.client.describe_tasks(cluster=self.cluster, tasks=[self.arn])
                    codes = [c.get("exitCode") for t in described.get("tasks", []) for c in t.get("containers", [])]
                    for code in codes:
                        if code in NOT_RETRYABLE:
                            raise AirflowFailException(f"bookpipe {step} {NOT_RETRYABLE[code]}: {failure}") from failure
                raise

    container = setting("ECS_CONTAINER", "bookpipe")
    subnets = [s for s in (setting("ECS_SUBNETS", "") or "").split(",") if s]
    security_groups = [s for s in (setting("ECS_SECURITY_GROUPS", "") or "").split(",") if s]
    return BookpipeEcsOperator(
        cluster=setting("ECS_CLUSTER", "bookpipe"),
        # The task definition pins the image (by digest) and injects the warehouse password from
        # Secrets Manager; a revision (`bookpipe:7`) pins both.
        task_definition=setting("ECS_TASK_DEFINITION", "bookpipe"),
        launch_type="FARGATE",
        overrides={
            "containerOverrides": [
                {
                    "name": container,
                    "command": arguments,
                    "environment": [{"name": k, "value": v} for k, v in lineage_env().items()],
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
    return LocalBookpipeOperator(
        arguments=arguments, env=lineage_env(), binary=setting("BINARY", "bookpipe") or "bookpipe", **common
    )


FACTORIES = {"kubernetes": kubernetes_task, "ecs": ecs_task, "local": local_task}
# Where each runtime's operator keeps the container arguments, for labelling mapped tasks.
ARGUMENTS = {
    "kubernetes": "task.arguments",
    "ecs": "task.overrides['containerOverrides'][0]['command']",
    "local": "task.arguments",
}


def make_task(
    step: str,
    arguments: list,
    *,
    execution_timeout,
    one_at_a_time=False,
    outlets=None,
    trigger_rule="all_success",
):
    """The task that runs `bookpipe <arguments>` as step `step` in the configured runtime;
    `one_at_a_time`: at most one instance of it runs across all runs of the DAG. A mapped task is
    labelled in the UI by its `--subject` argument."""
    runtime = runtime_name()
    subject = arguments.index("--subject") + 1
    common = {
        "task_id": step,
        "trigger_rule": trigger_rule,
        "outlets": outlets or [],
        "execution_timeout": execution_timeout,
        "map_index_template": "{{ " + ARGUMENTS[runtime] + f"[{subject}] }}}}",
    }
    if one_at_a_time:
        common["max_active_tis_per_dag"] = 1
    return FACTORIES[runtime](step, arguments, **common)
