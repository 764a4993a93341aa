"""The DAG's shape and the exact container arguments, under each runtime."""

from __future__ import annotations

import datetime
import types
from pathlib import Path

import pytest

from bookpipe_openlibrary import DS, step_arguments
from bookpipe_runtime import NOTHING_TO_DO, make_task, runtime_name
from conftest import load_dag

STEPS = ["fetch", "transform", "load", "aggregate"]


@pytest.mark.parametrize("runtime", ["kubernetes", "ecs", "local"])
def test_dagbag_imports_without_errors(monkeypatch, runtime):
    dag, errors = load_dag(monkeypatch, runtime)
    assert errors == {}
    assert dag is not None
    assert sorted(dag.task_dict) == [
        "subject.aggregate",
        "subject.fetch",
        "subject.load",
        "subject.transform",
        "subjects",
    ]
    assert dag.doc_md and "Which date is `--ds`" in dag.doc_md


def test_each_subject_runs_fetch_transform_load_aggregate_in_order(monkeypatch):
    dag, _ = load_dag(monkeypatch, "kubernetes")
    downstream = {task_id: sorted(task.downstream_task_ids) for task_id, task in dag.task_dict.items()}
    assert downstream == {
        # The mapped group's input feeds every task of the group.
        "subjects": ["subject.aggregate", "subject.fetch", "subject.load", "subject.transform"],
        "subject.fetch": ["subject.transform"],
        "subject.transform": ["subject.load"],
        "subject.load": ["subject.aggregate"],
        "subject.aggregate": [],
    }
    # A skipped step (exit 3: its partition is complete) does not skip the next one.
    assert dag.task_dict["subject.fetch"].trigger_rule == "all_success"
    for step in STEPS[1:]:
        assert dag.task_dict[f"subject.{step}"].trigger_rule == "none_failed"
    # No pool to create first (a task in a missing pool is never scheduled): one fetch at a time.
    assert dag.task_dict["subject.fetch"].pool == "default_pool"
    assert dag.task_dict["subject.fetch"].max_active_tis_per_dag == 1
    assert dag.task_dict["subject.transform"].max_active_tis_per_dag is None
    outlets = [asset.uri for asset in dag.task_dict["subject.aggregate"].outlets]
    assert outlets == [
        "bookpipe://gold/author_books_per_year",
        "bookpipe://gold/author_yearly_average",
        "bookpipe://gold/books_per_year",
    ]
    fetch = dag.task_dict["subject.fetch"]
    assert fetch.retries == 3 and fetch.retry_exponential_backoff


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
    task = make_task(step, step_arguments(step, "science_fiction"))
    arguments = rendered(task, "arguments")
    assert arguments[:5] == [step, "--ds", "2024-05-01", "--subject", "science_fiction"]
    extra = {"fetch": ["--contact", "data-team@example.com"], "aggregate": ["--output", "json"]}
    assert arguments[5:] == extra.get(step, [])
    assert task.skip_on_exit_code == [NOTHING_TO_DO]
    assert task.on_finish_action.value == "delete_pod"
    assert task.get_logs
    assert task.image == "bookpipe:latest"
    assert [s.deploy_target for s in task.secrets] == ["BOOKPIPE_WAREHOUSE"]
    assert "BOOKPIPE_WAREHOUSE" not in str(task.env_vars)


def test_ecs_command_override_for_2024_05_01(monkeypatch):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "ecs")
    monkeypatch.setenv("BOOKPIPE_ECS_SUBNETS", "subnet-1,subnet-2")
    task = make_task("transform", step_arguments("transform", "love"))
    overrides = rendered(task, "overrides")
    container = overrides["containerOverrides"][0]
    assert container["name"] == "bookpipe"
    assert container["command"] == ["transform", "--ds", "2024-05-01", "--subject", "love"]
    assert task.network_configuration["awsvpcConfiguration"]["subnets"] == ["subnet-1", "subnet-2"]
    assert task.awslogs_group == "/ecs/bookpipe"
    # "Nothing to do" is a skip on ECS too, read from the container that runs bookpipe.
    assert list(task.skip_on_exit_code) == [NOTHING_TO_DO]
    assert task.container_name == "bookpipe"
    assert "environment" not in container


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
    task = make_task("fetch", step_arguments("fetch", "love"))
    run = types.SimpleNamespace(run_after=datetime.datetime(2026, 11, 21, 23, 59, tzinfo=datetime.UTC))
    assert task.render_template(task.arguments, {"dag_run": run})[:3] == ["fetch", "--ds", "2026-11-21"]
    assert task.render_template(task.arguments, {"ds": "2024-05-01", "dag_run": run})[2] == "2024-05-01"


def test_the_dags_folder_ignores_the_tests():
    ignored = (Path(__file__).resolve().parents[1] / ".airflowignore").read_text().split()
    assert "tests/" in ignored


def test_an_unknown_runtime_is_refused(monkeypatch):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "lambda")
    with pytest.raises(ValueError, match="expected one of kubernetes, ecs, local"):
        runtime_name()
