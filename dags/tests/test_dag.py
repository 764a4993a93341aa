"""The DAG's shape and the exact container arguments, under each runtime."""

from __future__ import annotations

import datetime
import types
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from bookpipe_openlibrary import DS, TIMEOUTS, step_arguments
from bookpipe_runtime import LINEAGE_TEMPLATES, NOTHING_TO_DO, PASSWORD_DIR, make_task, runtime_name
from conftest import PINNED_IMAGE, load_dag

STEPS = ["fetch", "transform", "load", "aggregate", "report"]


@pytest.mark.parametrize("runtime", ["kubernetes", "ecs", "local"])
def test_dagbag_imports_without_errors(monkeypatch, runtime):
    dag, errors = load_dag(monkeypatch, runtime)
    assert errors == {}
    assert dag is not None
    assert sorted(dag.task_dict) == [
        "subject.aggregate",
        "subject.fetch",
        "subject.load",
        "subject.report",
        "subject.transform",
        "subjects",
    ]
    assert dag.doc_md and "Which date is `--ds`" in dag.doc_md


def test_each_subject_runs_fetch_transform_load_aggregate_report_in_order(monkeypatch):
    dag, _ = load_dag(monkeypatch, "kubernetes")
    downstream = {task_id: sorted(task.downstream_task_ids) for task_id, task in dag.task_dict.items()}
    assert downstream == {
        # The mapped group's input feeds every task of the group.
        "subjects": ["subject.aggregate", "subject.fetch", "subject.load", "subject.report", "subject.transform"],
        "subject.fetch": ["subject.transform"],
        "subject.transform": ["subject.load"],
        "subject.load": ["subject.aggregate"],
        "subject.aggregate": ["subject.report"],
        "subject.report": [],
    }
    # A skipped step (exit 3: its partition is complete) does not skip the next one.
    assert dag.task_dict["subject.fetch"].trigger_rule == "all_success"
    for step in STEPS[1:]:
        assert dag.task_dict[f"subject.{step}"].trigger_rule == "none_failed"
    # No pool to create first (a task in a missing pool is never scheduled): one fetch at a time.
    assert dag.task_dict["subject.fetch"].pool == "default_pool"
    assert dag.task_dict["subject.fetch"].max_active_tis_per_dag == 1
    assert dag.task_dict["subject.transform"].max_active_tis_per_dag is None
    # The gold Assets are the gold tables' real folders in the lake (the Kubernetes default here).
    outlets = [(asset.name, asset.uri) for asset in dag.task_dict["subject.aggregate"].outlets]
    assert outlets == [
        ("gold.author_books_per_year", "s3://bookpipe-lake/prod/gold/author_books_per_year"),
        ("gold.author_yearly_average", "s3://bookpipe-lake/prod/gold/author_yearly_average"),
        ("gold.books_per_year", "s3://bookpipe-lake/prod/gold/books_per_year"),
    ]
    fetch = dag.task_dict["subject.fetch"]
    assert fetch.retries == 3 and fetch.retry_exponential_backoff
    # Every task can be killed when it hangs; mapped tasks are labelled by their subject.
    for task_id, task in dag.task_dict.items():
        assert task.execution_timeout is not None, task_id
    assert fetch.execution_timeout == datetime.timedelta(hours=2)
    assert fetch.map_index_template == "{{ task.arguments[4] }}"


def test_the_schedule_is_an_explicit_daily_cron_in_utc(monkeypatch):
    dag, _ = load_dag(monkeypatch, "kubernetes")
    timetable = dag.timetable
    assert type(timetable).__name__ == "CronTriggerTimetable"
    assert timetable._expression == "0 6 * * *"
    assert str(timetable._timezone) in ("UTC", "Timezone('UTC')")


def rendered(task, field):
    """A templated field of `task` rendered for logical date 2024-05-01."""
    return task.render_template(getattr(task, field), {"ds": "2024-05-01"})


@pytest.mark.parametrize("step", STEPS)
def test_kubernetes_arguments_for_2024_05_01(monkeypatch, step):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "kubernetes")
    task = make_task(step, step_arguments(step, "science_fiction"), execution_timeout=TIMEOUTS[step])
    arguments = rendered(task, "arguments")
    assert arguments[:5] == [step, "--ds", "2024-05-01", "--subject", "science_fiction"]
    extra = {
        "fetch": ["--contact", "data-team@example.com"],
        "aggregate": ["--output", "json"],
        # The quality gate's flags: nothing accepted, no backfill, without a run to say otherwise.
        "load": ["--accept-drop=False", "--backfill=False"],
    }
    assert arguments[5:] == extra.get(step, [])
    assert task.skip_on_exit_code == [NOTHING_TO_DO]
    assert task.on_finish_action.value == "delete_pod"
    assert task.get_logs
    assert task.image == PINNED_IMAGE
    # The URL from the secret as an env var; the password only as a mounted file.
    assert [(s.deploy_type, s.deploy_target) for s in task.secrets] == [
        ("env", "BOOKPIPE_WAREHOUSE"),
        ("volume", PASSWORD_DIR),
    ]
    env = task.env_vars if isinstance(task.env_vars, dict) else {e.name: e.value for e in task.env_vars}
    assert env["BOOKPIPE_WAREHOUSE_PASSWORD_FILE"] == f"{PASSWORD_DIR}/warehouse-password"
    assert "BOOKPIPE_WAREHOUSE" not in env and not any("PASSWORD=" in str(v) for v in env.values())
    pod, container = task.security_context, task.container_security_context
    assert pod.run_as_non_root and pod.run_as_user == 65532
    assert container.read_only_root_filesystem and not container.allow_privilege_escalation
    assert container.capabilities.drop == ["ALL"]
    assert [(m.name, m.mount_path) for m in task.volume_mounts] == [("tmp", "/tmp")]
    assert task.volumes[0].empty_dir is not None


@pytest.mark.parametrize("image", [None, "bookpipe", "bookpipe:latest", "repo/bookpipe@sha256:abc"])
def test_kubernetes_refuses_an_image_that_can_move(monkeypatch, image):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "kubernetes")
    if image is None:
        monkeypatch.delenv("BOOKPIPE_IMAGE")
    else:
        monkeypatch.setenv("BOOKPIPE_IMAGE", image)
    with pytest.raises(ValueError, match="by digest"):
        make_task("load", step_arguments("load", "love"), execution_timeout=TIMEOUTS["load"])
    monkeypatch.setenv("BOOKPIPE_IMAGE", "registry.example.com/bookpipe:1.4.0")
    make_task("load", step_arguments("load", "love"), execution_timeout=TIMEOUTS["load"])


def pod_that_exited(code: int):
    from kubernetes.client import models as k8s

    terminated = k8s.V1ContainerStateTerminated(exit_code=code)
    status = k8s.V1ContainerStatus(
        name="base",
        image="x",
        image_id="x",
        ready=False,
        restart_count=0,
        state=k8s.V1ContainerState(terminated=terminated),
    )
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="bookpipe-load-1", namespace="data"),
        status=k8s.V1PodStatus(phase="Failed", container_statuses=[status]),
    )


@pytest.mark.parametrize(
    ("code", "raised"),
    [(2, AirflowFailException), (3, AirflowSkipException), (5, AirflowFailException), (1, AirflowException)],
)
def test_kubernetes_exit_codes(monkeypatch, code, raised):
    """Exit 2 fails without retries, 3 skips, anything else fails to be retried."""
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "kubernetes")
    task = make_task("load", step_arguments("load", "love"), execution_timeout=TIMEOUTS["load"])
    # No cluster here: the pod's deletion and patching are the provider's business, not this test's.
    for method in ("process_pod_deletion", "patch_already_checked", "is_istio_enabled"):
        monkeypatch.setattr(type(task), method, lambda *args, **kwargs: None)
    pod = pod_that_exited(code)
    with pytest.raises(raised) as caught:
        task.cleanup(pod, pod)
    assert type(caught.value) is raised


def test_ecs_command_override_for_2024_05_01(monkeypatch):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "ecs")
    monkeypatch.setenv("BOOKPIPE_ECS_SUBNETS", "subnet-1,subnet-2")
    task = make_task("transform", step_arguments("transform", "love"), execution_timeout=TIMEOUTS["transform"])
    overrides = rendered(task, "overrides")
    container = overrides["containerOverrides"][0]
    assert container["name"] == "bookpipe"
    assert container["command"] == ["transform", "--ds", "2024-05-01", "--subject", "love"]
    assert task.network_configuration["awsvpcConfiguration"]["subnets"] == ["subnet-1", "subnet-2"]
    assert task.awslogs_group == "/ecs/bookpipe"
    # "Nothing to do" is a skip on ECS too, read from the container that runs bookpipe.
    assert list(task.skip_on_exit_code) == [NOTHING_TO_DO]
    assert task.container_name == "bookpipe"
    assert {e["name"] for e in container["environment"]} == set(LINEAGE_TEMPLATES)
    assert task.map_index_template == "{{ task.overrides['containerOverrides'][0]['command'][4] }}"


class FakeEcs:
    """What `describe_tasks` answers for a stopped Fargate task whose container exited `code`."""

    def __init__(self, code: int):
        self.code = code

    def describe_tasks(self, cluster, tasks):
        container = {"name": "bookpipe", "lastStatus": "STOPPED", "exitCode": self.code}
        return {"tasks": [{"taskArn": tasks[0], "containers": [container]}], "failures": []}


@pytest.mark.parametrize(
    ("code", "raised"),
    [(2, AirflowFailException), (3, AirflowSkipException), (5, AirflowFailException), (1, AirflowException)],
)
def test_ecs_exit_codes(monkeypatch, code, raised):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "ecs")
    task = make_task("load", step_arguments("load", "love"), execution_timeout=TIMEOUTS["load"])
    task.__dict__["client"] = FakeEcs(code)
    task.arn = "arn:aws:ecs:eu-west-1:123456789012:task/bookpipe/abc"
    with pytest.raises(raised) as caught:
        task._check_success_task()
    assert type(caught.value) is raised


@pytest.mark.parametrize(
    ("code", "raised"),
    [(2, AirflowFailException), (3, AirflowSkipException), (5, AirflowFailException), (1, AirflowException)],
)
def test_local_exit_codes(monkeypatch, tmp_path, code, raised):
    binary = tmp_path / "bookpipe"
    binary.write_text(f"#!/bin/sh\necho 'error: the reason' >&2\nexit {code}\n")
    binary.chmod(0o755)
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "local")
    monkeypatch.setenv("BOOKPIPE_BINARY", str(binary))
    task = make_task("load", ["load", "--ds", "2024-05-01", "--subject", "love"], execution_timeout=TIMEOUTS["load"])
    with pytest.raises(raised, match="exit" if code != 1 else "exited with 1: error: the reason") as caught:
        task.execute({})
    assert type(caught.value) is raised


def test_the_dag_passes_the_logical_date_and_the_mapped_subject(monkeypatch):
    dag, _ = load_dag(monkeypatch, "kubernetes")
    arguments = dag.task_dict["subject.load"].arguments
    assert arguments[:4] == ["load", "--ds", DS, "--subject"]
    # The subject is the mapped group's argument, resolved per map index at run time.
    assert type(arguments[4]).__name__ == "MappedArgument"


def test_ds_is_defined_for_runs_without_a_logical_date(monkeypatch):
    """API-triggered runs (`logical_date: null`) and Asset-triggered runs have no `ds` in Airflow 3:
    `--ds` is then the UTC day of the run's `run_after`."""
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "local")
    task = make_task("fetch", step_arguments("fetch", "love"), execution_timeout=TIMEOUTS["fetch"])
    run = types.SimpleNamespace(run_after=datetime.datetime(2026, 11, 21, 23, 59, tzinfo=datetime.UTC))
    assert task.render_template(task.arguments, {"dag_run": run})[:3] == ["fetch", "--ds", "2026-11-21"]
    assert task.render_template(task.arguments, {"ds": "2024-05-01", "dag_run": run})[2] == "2024-05-01"


def test_load_accepts_a_drop_from_the_run_s_conf_and_says_when_it_is_a_backfill(monkeypatch):
    """The quality gate's flags as a run renders them: `accept_drop` from the params (the run's
    conf), `--backfill` for backfill runs only."""
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "local")
    task = make_task("load", step_arguments("load", "love"), execution_timeout=TIMEOUTS["load"])
    six = datetime.datetime(2024, 5, 1, 6, tzinfo=datetime.UTC)
    for run_type, logical_date, accept, expected in [
        ("scheduled", six, False, ["--accept-drop=False", "--backfill=False"]),
        ("manual", None, True, ["--accept-drop=True", "--backfill=False"]),
        ("backfill", six, False, ["--accept-drop=False", "--backfill=True"]),
        # A manual run of a past day, made a day later: a backfill too.
        ("manual", six - datetime.timedelta(days=1), False, ["--accept-drop=False", "--backfill=True"]),
    ]:
        run = types.SimpleNamespace(run_type=run_type, logical_date=logical_date, run_after=six)
        context = {"ds": "2024-05-01", "dag_run": run, "params": {"accept_drop": accept, "subjects": ["love"]}}
        assert task.render_template(task.arguments, context)[5:] == expected, run_type


def test_the_dags_folder_ignores_the_tests():
    ignored = (Path(__file__).resolve().parents[1] / ".airflowignore").read_text().split()
    assert "tests/" in ignored


def test_an_unknown_runtime_is_refused(monkeypatch):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "lambda")
    with pytest.raises(ValueError, match="expected one of kubernetes, ecs, local"):
        runtime_name()


def test_a_local_lake_is_declared_by_its_file_uri(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOKPIPE_LAKE", str(tmp_path / "lake"))
    dag, _ = load_dag(monkeypatch, "local")
    uris = [asset.uri for asset in dag.task_dict["subject.aggregate"].outlets]
    assert uris[0] == f"file://{tmp_path}/lake/gold/author_books_per_year"


def lineage_of(task, runtime: str) -> dict:
    """The OpenLineage variables a task hands its container, by runtime."""
    if runtime == "kubernetes":
        env = task.env_vars if isinstance(task.env_vars, dict) else {e.name: e.value for e in task.env_vars}
    elif runtime == "ecs":
        env = {e["name"]: e["value"] for e in task.overrides["containerOverrides"][0]["environment"]}
    else:
        env = task.env
    return {k: v for k, v in env.items() if k.startswith("OPENLINEAGE_")}


@pytest.mark.parametrize("runtime", ["kubernetes", "ecs", "local"])
def test_every_runtime_hands_the_container_its_lineage_parent(monkeypatch, runtime):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", runtime)
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "never-in-a-pod-spec")
    task = make_task("load", step_arguments("load", "love"), execution_timeout=TIMEOUTS["load"])
    env = lineage_of(task, runtime)
    assert env["OPENLINEAGE_URL"] == "http://marquez:5000"
    assert "OPENLINEAGE_API_KEY" not in env
    assert "lineage_parent_id(task_instance)" in env["OPENLINEAGE_PARENT_ID"]
    assert "lineage_root_parent_id(task_instance)" in env["OPENLINEAGE_ROOT_PARENT_ID"]
    # Without the provider's plugin (not installed, or disabled) the parent renders empty.
    for name, empty in [("OPENLINEAGE_PARENT_ID", ""), ("OPENLINEAGE_NAMESPACE", "default")]:
        assert task.render_template(env[name], {"macros": types.SimpleNamespace()}) == empty
        assert task.render_template(env[name], {}) == empty
