"""What can be checked of the AWS deployment without an AWS account: the Terraform parses, checkov
finds no failed check, every IAM policy document passes parliament and grants only what it should,
the task definition agrees with bookpipe and the DAG, the Glue tables agree with the Parquet
bookpipe writes, and every statement of the Redshift path parses as Redshift SQL."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess

import parliament
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from conftest import MODULE, REFERENCE, ROOT, TERRAFORM, blocks, parse

# What the module's references stand for in one example deployment (eu-west-1, account
# 123456789012, bucket example-bookpipe-lake, prefix prod).
ACCOUNT = "123456789012"
LAKE = "arn:aws:s3:::example-bookpipe-lake"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
SECRET = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:bookpipe/warehouse-password-AbCdEf"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/bookpipe-task"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/bookpipe-execution"
SAMPLE = {
    "aws_s3_bucket.lake.arn": LAKE,
    "local.prefix": "prod",
    "local.partition": "aws",
    "local.account": ACCOUNT,
    "local.region": "eu-west-1",
    "var.name": "bookpipe",
    "aws_kms_key.bookpipe.arn": KEY,
    "aws_sqs_queue.committed.arn": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:bookpipe-partition-committed",
    "aws_ecr_repository.bookpipe.arn": f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/bookpipe",
    "aws_cloudwatch_log_group.task.arn": f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/bookpipe",
    "aws_secretsmanager_secret.warehouse_password.arn": SECRET,
    "aws_ecs_cluster.bookpipe.arn": f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/bookpipe",
    "aws_iam_role.task.arn": TASK_ROLE,
    "aws_iam_role.execution.arn": EXECUTION_ROLE,
    "var.airflow_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/mwaa-bookpipe-execution"],
}


def substitute(value):
    """A Terraform value with its references replaced by the example deployment's."""
    if isinstance(value, list):
        out = []
        for item in value:
            replaced = substitute(item)
            out.extend(replaced if isinstance(replaced, list) and not isinstance(item, list) else [replaced])
        return out
    whole = REFERENCE.fullmatch(value)
    if whole:
        assert whole[1] in SAMPLE, f"a reference the test does not know: {whole[1]}"
        return SAMPLE[whole[1]]

    def one(match):
        assert match[1] in SAMPLE, f"a reference the test does not know: {match[1]}"
        return SAMPLE[match[1]]

    return REFERENCE.sub(one, value)


def one_or_many(values: list):
    """As Terraform renders a policy document's lists: one value as itself, more as a list."""
    return values[0] if len(values) == 1 else values


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def render(document: dict) -> dict:
    """An aws_iam_policy_document block as the JSON policy Terraform renders."""
    statements = []
    for st in document["statement"]:
        rendered = {"Effect": st.get("effect", "Allow"), "Action": one_or_many(substitute(st["actions"]))}
        if "sid" in st:
            rendered = {"Sid": st["sid"], **rendered}
        if "resources" in st:
            rendered["Resource"] = one_or_many(substitute(st["resources"]))
        for principal in st.get("principals", []):
            identifiers = one_or_many(substitute(principal["identifiers"]))
            if principal["type"] == "*":
                rendered["Principal"] = "*"  # As Terraform renders type "*" with identifiers ["*"].
            else:
                rendered.setdefault("Principal", {})[principal["type"]] = identifiers
        for condition in st.get("condition", []):
            by_test = rendered.setdefault("Condition", {}).setdefault(condition["test"], {})
            by_test[condition["variable"]] = one_or_many(substitute(condition["values"]))
        statements.append(rendered)
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture(scope="session")
def policies(every) -> dict[str, dict]:
    return {name: render(body) for name, body in blocks(every, "data", "aws_iam_policy_document").items()}


def test_every_terraform_file_parses():
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 10
    for path in files:
        assert parse(path), path


def test_checkov_finds_no_failed_check_and_every_skip_says_why():
    checkov = os.environ.get("BOOKPIPE_CHECKOV")
    assert checkov, "set BOOKPIPE_CHECKOV to checkov from infra/checkov-requirements.txt (scripts/test does)"
    done = subprocess.run(
        [checkov, "-d", str(TERRAFORM), "--framework", "terraform", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, failed
    assert summary["passed"] >= 150 and summary["resource_count"] >= 35, summary
    skips = re.findall(r"#checkov:skip=(\w+):(.*)", "".join(p.read_text() for p in MODULE.glob("*.tf")))
    assert len(skips) == summary["skipped"], skips
    for check, reason in skips:
        assert len(reason.split()) >= 6, f"{check}: a skip needs its reason ({reason!r})"


# A trust policy has no Resource: its resource is the role it is attached to. parliament, written for
# identity policies, is given that role explicitly.
TRUSTED = {
    "ecs_tasks_assume": TASK_ROLE,
    "airflow_assume": f"arn:aws:iam::{ACCOUNT}:role/bookpipe-airflow",
    "redshift_assume": f"arn:aws:iam::{ACCOUNT}:role/bookpipe-redshift-copy",
}


def test_every_policy_document_passes_parliament(policies):
    assert set(policies) == {
        "key",
        "lake",
        "committed",
        "ecs_tasks_assume",
        "task",
        "execution",
        "airflow_assume",
        "airflow",
        "redshift_assume",
        "redshift_copy",
    }
    community = {}
    for name, rendered in policies.items():
        policy = rendered
        if name in TRUSTED:
            assert [st["Action"] for st in policy["Statement"]] == ["sts:AssumeRole"], name
            policy = {**policy, "Statement": [{**st, "Resource": TRUSTED[name]} for st in policy["Statement"]]}
        if name == "key":
            # In a key policy "*" is the key it is attached to.
            assert {st["Resource"] for st in policy["Statement"]} == {"*"}
            policy = {**policy, "Statement": [{**st, "Resource": KEY} for st in policy["Statement"]]}
        text = json.dumps(policy)
        # parliament's own auditors, as its command line runs them: no finding at all.
        assert [(f.issue, f.detail) for f in parliament.analyze_policy_string(text).findings] == [], name
        found = parliament.analyze_policy_string(text, include_community_auditors=True).findings
        community[name] = sorted((f.issue, *sorted(f.location.get("actions", []))) for f in found)
    # With the community auditors too, the only findings are what these documents exist to grant:
    # sts:AssumeRole in the trust policies, ECR's login token for the execution role, passing the
    # two task roles for Airflow, and the key's own administration in its key policy.
    assume = [("CREDENTIALS_EXPOSURE", "sts:assumerole")]
    expected = {name: [] for name in policies} | {name: assume for name in TRUSTED}
    expected["execution"] = [("CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken")]
    expected["airflow"] = [("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole")]
    grants = ("kms:creategrant", "kms:putkeypolicy", "kms:retiregrant", "kms:revokegrant")
    expected["key"] = [("PERMISSIONS_MANAGEMENT_ACTIONS", *grants)]
    assert community == expected


def allowed(policy: dict):
    for st in policy["Statement"]:
        if st["Effect"] == "Allow":
            yield st


def test_no_allow_statement_grants_a_wildcard_action(policies):
    for name, policy in policies.items():
        for st in allowed(policy):
            assert not any("*" in action for action in as_list(st["Action"])), (name, st)


def test_the_task_reaches_only_the_lake_prefix_and_its_key(policies):
    task = policies["task"]
    resources = {r for st in allowed(task) for r in as_list(st["Resource"])}
    assert resources == {LAKE, f"{LAKE}/prod/*", KEY}
    listing = next(st for st in task["Statement"] if st["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["prod", "prod/*"]}}
    actions = [a for st in allowed(task) for a in as_list(st["Action"])]
    assert not any(a.startswith(("iam:", "secretsmanager:", "ecs:")) for a in actions)


def test_the_execution_role_reads_only_the_named_secret_pulls_only_its_image(policies):
    execution = policies["execution"]
    by_action = {a: as_list(st["Resource"]) for st in allowed(execution) for a in as_list(st["Action"])}
    assert by_action["secretsmanager:GetSecretValue"] == [SECRET]
    assert by_action["ecr:BatchGetImage"] == [f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/bookpipe"]
    # The one "*": ecr:GetAuthorizationToken has no resource to name.
    assert [a for a, r in by_action.items() if r == ["*"]] == ["ecr:GetAuthorizationToken"]


def test_airflow_runs_only_this_task_and_passes_exactly_its_two_roles(policies):
    airflow = policies["airflow"]
    by_action = {a: st for st in allowed(airflow) for a in as_list(st["Action"])}
    assert by_action["iam:PassRole"]["Resource"] == [TASK_ROLE, EXECUTION_ROLE]
    assert by_action["ecs:RunTask"]["Resource"] == f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/bookpipe:*"
    assert set(by_action) == {"ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "iam:PassRole", "logs:GetLogEvents"}


def test_redshift_copies_only_from_the_silver_zone(policies):
    resources = {r for st in allowed(policies["redshift_copy"]) for r in as_list(st["Resource"])}
    assert resources == {LAKE, f"{LAKE}/prod/silver/*", KEY}


def task_definition(every) -> tuple[dict, dict]:
    (definition,) = blocks(every, "resource", "aws_ecs_task_definition").values()
    locals_ = {k: v for entry in every["locals"] for k, v in entry.items()}
    return definition, locals_


def help_texts(binary: str) -> str:
    commands = ["fetch", "transform", "export", "load", "aggregate", "run", "status"]
    return "".join(
        subprocess.run([binary, *c, "--help"], capture_output=True, text=True, check=True).stdout
        for c in [[], *[[c] for c in commands]]
    )


def test_the_task_is_told_only_what_bookpipe_reads(every, binary):
    definition, locals_ = task_definition(every)
    helps = help_texts(binary)
    environment = set(locals_["task_environment"])
    for name in sorted(environment):
        if name.startswith("BOOKPIPE_"):
            assert f"[env: {name}" in helps, f"{name} is not a flag bookpipe reads"
    # Not bookpipe's flags: read by the AWS SDK configuration and the C library, as docs/aws.md says.
    aws_md = (ROOT / "docs" / "aws.md").read_text()
    for name in environment - {n for n in environment if n.startswith("BOOKPIPE_")}:
        assert f"`{name}`" in aws_md, f"{name} is not documented in docs/aws.md"
    container = definition["container_definitions"]
    assert "PGPASSWORD" in container and "valueFrom" in container
    load_help = subprocess.run([binary, "load", "--help"], capture_output=True, text=True, check=True).stdout
    assert "PGPASSWORD" in load_help


def dag_defaults() -> dict[str, str]:
    """`setting("ECS_…", default)` calls of the DAG's runtime module."""
    tree = ast.parse((ROOT / "dags" / "bookpipe_runtime.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setting" and len(node.args) == 2:
            name, default = (a.value if isinstance(a, ast.Constant) else None for a in node.args)
            found[name] = default
    return found


def test_container_cluster_and_log_group_match_the_dags_defaults(every):
    defaults = dag_defaults()
    variables = {k: v for entry in every["variable"] for k, v in entry.items()}
    name = variables["name"]["default"]
    definition, _ = task_definition(every)
    (cluster,) = blocks(every, "resource", "aws_ecs_cluster").values()
    (log_group,) = blocks(every, "resource", "aws_cloudwatch_log_group").values()
    assert definition["family"] == "${var.name}" and cluster["name"] == "${var.name}"
    assert defaults["ECS_CLUSTER"] == defaults["ECS_TASK_DEFINITION"] == defaults["ECS_CONTAINER"] == name
    assert log_group["name"].replace("${var.name}", name) == defaults["ECS_LOG_GROUP"]
    container = definition["container_definitions"]
    # The container: named like the cluster, logging to the log group under prefix "ecs" (the
    # operator reads streams `<prefix>/<container>/<task id>`, its prefix f"ecs/{container}").
    for expected in (
        "{name = var.name,",
        "awslogs-group = aws_cloudwatch_log_group.task.name",
        'awslogs-stream-prefix = "ecs"',
        'user = "65532:65532"',
        "readonlyRootFilesystem = true",
        'drop = ["ALL"]',
        'containerPath = "/tmp"',
    ):
        assert expected in container, expected
    assert 'awslogs_stream_prefix=f"ecs/{container}"' in (ROOT / "dags" / "bookpipe_runtime.py").read_text()


ARROW_TO_GLUE = {"string": "string", "int16": "smallint", "int32": "int", "int64": "bigint", "bool": "boolean"}
ARROW_TO_GLUE["double"] = "double"


def test_glue_tables_match_the_parquet_bookpipe_writes(every, lake_run):
    (glue_types,) = [entry["glue_type"] for entry in every["locals"] if "glue_type" in entry]
    (tables,) = [entry["lake_tables"] for entry in every["locals"] if "lake_tables" in entry]
    assert len(tables) == 7
    for table, columns in tables.items():
        path = lake_run.lake / table / "subject=love" / f"ds={lake_run.ds}" / "part-00000.parquet"
        schema = pq.read_schema(path)
        written = [(f.name, ARROW_TO_GLUE[str(f.type)]) for f in schema]
        declared = [(name, glue_types[arrow]) for name, arrow in columns]
        assert declared == written, table
    (glue,) = blocks(every, "resource", "aws_glue_catalog_table").values()
    parameters = glue["parameters"]
    assert parameters["storage.location.template"].endswith("/${each.key}/subject=$${subject}/ds=$${ds}/")
    assert parameters["projection.ds.format"] == "yyyy-MM-dd"


# Statements sqlglot has no grammar for, checked against Redshift's documented syntax instead.
REDSHIFT_LOCK = re.compile(r"LOCK (?:TABLE )?[a-z_]+(?:, [a-z_]+)*")


def redshift_statements() -> list[str]:
    texts = [(ROOT / "tests" / "redshift_statements.sql").read_text()]
    texts += [p.read_text() for p in sorted((ROOT / "sql" / "migrations" / "redshift").glob("*.sql"))]
    statements = []
    for text in texts:
        code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
        statements += [s.strip() for s in code.split(";") if s.strip()]
    return statements


def test_every_statement_of_the_redshift_path_parses_as_redshift_sql():
    statements = redshift_statements()
    assert len(statements) >= 40
    kinds = {}
    for statement in statements:
        if statement.startswith("LOCK "):
            assert REDSHIFT_LOCK.fullmatch(statement), statement
            continue
        parsed = sqlglot.parse_one(statement, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
        assert not isinstance(parsed, exp.Command), f"not parsed, only passed through: {statement}"
        kinds[type(parsed).__name__] = kinds.get(type(parsed).__name__, 0) + 1
    assert {"Copy", "Create", "Insert", "Delete", "Select", "Drop", "Alter", "Analyze"} <= set(kinds), kinds
    copies = [s for s in statements if s.startswith("COPY ")]
    assert len(copies) == 3 and all("IAM_ROLE 'arn:aws:iam::" in c and c.endswith("FORMAT AS PARQUET") for c in copies)
