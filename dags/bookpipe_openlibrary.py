"""
### bookpipe: Open Library subjects → lake → warehouse, daily

For each subject (DAG param `subjects`), four idempotent, date-partitioned tasks of the bookpipe
image run in order: `fetch` → `transform` → `load` → `aggregate` → `report`. Subjects fan out with dynamic task
mapping (one mapped task group per subject).

**Which date is `--ds`.** The schedule is an explicit `CronTriggerTimetable("0 6 * * *", UTC)`: in
Airflow 3 a cron timetable makes the *logical date the moment the run fires*, so `--ds` is
`{{ ds }}` = the UTC day the run fires. That is also the day Open Library's answer is fetched: the
API only answers "today", so a run's raw partition is that day's snapshot. A run without a logical
date (triggered through the API with `logical_date: null`, or by an Asset) has no `ds`: `--ds` is
then the UTC day of the run's `run_after`, the moment it was triggered. A backfill of an older
date re-runs transform, load and aggregate from the raw zone (fetch of a complete partition exits 3
and is skipped; fetch of a date that was never fetched is refused).

**How tasks run** is chosen by the Airflow Variable or env var `BOOKPIPE_RUNTIME`:
`kubernetes` (KubernetesPodOperator, the default), `ecs` (EcsRunTaskOperator) or `local` (the
`bookpipe` binary on PATH, for development and the project's end-to-end test). Exit code 3
("nothing to do") is a skip, never a failure; downstream tasks run when nothing upstream failed.
Exit code 2 ("bad input", e.g. a fetch of a past day that has no raw partition) fails the task at
once on every runtime: retries are for failures a retry can fix.

**The quality gate.** `load` first checks the day against the subject's loaded days (volume
against the last loaded day and the trailing median, keys, nulls, years, shares, freshness) and
refuses an implausible day with exit 5: the subject's `load` fails at once, never retried, its
`aggregate` and `report` are `upstream_failed`, and the warehouse keeps the previous slice and gold.
Why, in numbers: `quality/subject=S/ds=D/checks.json` in the lake, the task log, `bookpipe status`.
A drop that is real is accepted by a run with conf `{"subjects": ["S"], "accept_drop": true}` (its
fetch and transform are skipped, its load passes `--accept-drop=True`). Backfill runs, and runs of a
logical date before the day they run (a manual run of a past day), pass `--backfill=True`, so a day
older than the newest loaded one is not refused for its age. Every task has an
`execution_timeout`; mapped tasks are labelled by their subject in the UI.

One fetch runs at a time across every run and subject of this DAG (`max_active_tis_per_dag=1`),
so parallel subjects and backfills stay within Open Library's rate with no pool to create first (a
task in a pool that does not exist is never scheduled).
**Lineage.** With Airflow's OpenLineage provider enabled, every container task gets its Airflow task
instance as its OpenLineage parent (`OPENLINEAGE_PARENT_ID`, rendered by the provider's macros) and
the receiver the scheduler uses (`OPENLINEAGE_URL`): bookpipe's START/COMPLETE/FAIL events, with the
lake and warehouse datasets each task read and wrote, hang under the Airflow task in the catalog.

The gold tables are declared as Assets by their lake URIs (`s3://bucket/prefix/gold/<table>`, or
`file:///…` for a local lake), updated by each subject's `aggregate`; `report` then writes the
subject's page, `gold/report/subject=S/ds=D/index.html`, and the index of latest reports.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Asset, Param, task, task_group
from airflow.timetables.trigger import CronTriggerTimetable

from bookpipe_runtime import NOTHING_TO_DO, lake_uri, make_task, runtime_name

DEFAULT_SUBJECTS = ["science_fiction", "fantasy", "love"]
STEPS = ("fetch", "transform", "load", "aggregate", "report")
# How long a step may run before Airflow kills it (and retries it): fetch is paced at 3 requests a
# second (a 100,000-work subject takes ~10 minutes cold); the others take seconds to minutes.
TIMEOUTS = {
    "fetch": timedelta(hours=2),
    "transform": timedelta(minutes=45),
    "load": timedelta(minutes=45),
    "aggregate": timedelta(minutes=30),
    "report": timedelta(minutes=15),
}
# The logical date's day, else (a run without one: API-triggered with `logical_date: null`, or
# Asset-triggered) the UTC day of the run's `run_after`; Airflow 3 defines `ds` only with a logical date.
DS = "{{ ds if ds is defined else dag_run.run_after.strftime('%Y-%m-%d') }}"
# The quality gate's flags, rendered per run: the run's conf accepts a drop; a run is a backfill when
# Airflow made it as one, or when it runs for a day before the day it was made to run (a manual run
# of a past logical date): such a day may be older than the subject's newest loaded day.
ACCEPT_DROP = "--accept-drop={{ params.accept_drop if params is defined and 'accept_drop' in params else false }}"
BACKFILL = (
    "--backfill={{ dag_run is defined and (dag_run.run_type == 'backfill' or (dag_run.logical_date is not none"
    " and dag_run.logical_date.date() < dag_run.run_after.date())) }}"
)
# The gold tables by their real location in the lake (the table folder, as engines and bookpipe's own
# lineage events name them), so a catalog joins Airflow's Assets and bookpipe's datasets.
GOLD_TABLES = ("author_books_per_year", "author_yearly_average", "books_per_year")
GOLD_ASSETS = [Asset(name=f"gold.{table}", uri=f"{lake_uri()}/gold/{table}") for table in GOLD_TABLES]


def step_arguments(step: str, subject) -> list:
    """The container arguments of one step: `[step, "--ds", <ds>, "--subject", <subject>, ...]`."""
    arguments = [step, "--ds", DS, "--subject", subject]
    if step == "fetch":
        arguments += ["--contact", os.environ.get("BOOKPIPE_CONTACT", "data-team@example.com")]
    if step == "aggregate":
        arguments += ["--output", "json"]
    if step == "load":
        arguments += [ACCEPT_DROP, BACKFILL]
    return arguments


with DAG(
    dag_id="bookpipe_openlibrary",
    description="Open Library subjects into the lake and the warehouse, with the three answers",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "subjects": Param(
            DEFAULT_SUBJECTS, type="array", items={"type": "string"}, description="Open Library subject keys"
        ),
        "accept_drop": Param(
            False,
            type="boolean",
            description="Load days whose works fell beyond the quality gate's --max-drop (a drop that is real)",
        ),
    },
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    tags=["bookpipe", "openlibrary"],
) as dag:

    @task_group(group_id="subject")
    def per_subject(subject):
        previous = None
        for step in STEPS:
            current = make_task(
                step,
                step_arguments(step, subject),
                execution_timeout=TIMEOUTS[step],
                one_at_a_time=step == "fetch",
                outlets=GOLD_ASSETS if step == "aggregate" else None,
                # A skipped step (exit 3: its partition is complete) must not skip the next.
                trigger_rule="all_success" if step == "fetch" else "none_failed",
            )
            if previous is not None:
                previous >> current
            previous = current

    @task(execution_timeout=timedelta(minutes=5))
    def subjects(params=None) -> list[str]:
        """The subjects of this run, from the DAG params."""
        return [str(s).strip().lower() for s in params["subjects"] if str(s).strip()]

    per_subject.expand(subject=subjects())

__all__ = ["NOTHING_TO_DO", "dag", "runtime_name", "step_arguments"]
