"""The DAG's shape and the exact container arguments, under each runtime."""

from __future__ import annotations

import pytest

from bookpipe_openlibrary import step_arguments
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
    assert dag.task_dict["subject.fetch"].pool == "openlibrary_api"
    assert dag.task_dict["subject.transform"].pool == "default_pool"
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


def test_the_dag_passes_the_logical_date_and_the_mapped_subject(monkeypatch):
    dag, _ = load_dag(monkeypatch, "kubernetes")
    arguments = dag.task_dict["subject.load"].arguments
    assert arguments[:4] == ["load", "--ds", "{{ ds }}", "--subject"]
    # The subject is the mapped group's argument, resolved per map index at run time.
    assert type(arguments[4]).__name__ == "MappedArgument"


def test_an_unknown_runtime_is_refused(monkeypatch):
    monkeypatch.setenv("BOOKPIPE_RUNTIME", "lambda")
    with pytest.raises(ValueError, match="expected one of kubernetes, ecs, local"):
        runtime_name()
