# Three roles, each allowed exactly what it uses:
# - task: what bookpipe itself touches, the lake's prefix (and the key that encrypts it);
# - execution: what ECS needs to start it, this image, this log group, this one secret;
# - airflow: what the DAG's EcsRunTaskOperator calls, run this task definition and pass these two roles.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ListTheLakePrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.prefix, "${local.prefix}/*"]
    }
  }
  statement {
    sid = "ReadWriteTheLakeObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.lake.arn}/${local.prefix}/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.bookpipe.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "lake"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "LogInToEcr"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # This action has no resource: AWS accepts only "*".
  }
  statement {
    sid       = "PullThisImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.bookpipe.arn]
  }
  statement {
    sid       = "WriteThisLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.task.arn}:*"]
  }
  statement {
    sid       = "ReadThisSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.warehouse_password.arn]
  }
  statement {
    sid       = "DecryptTheImageAndTheSecret"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.bookpipe.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-the-task"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

data "aws_iam_policy_document" "airflow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.airflow_principal_arns
    }
  }
}

resource "aws_iam_role" "airflow" {
  name               = "${var.name}-airflow"
  assume_role_policy = data.aws_iam_policy_document.airflow_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "airflow" {
  statement {
    sid       = "RunTheTask"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task-definition/${var.name}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.bookpipe.arn]
    }
  }
  statement {
    sid       = "WatchAndStopItsTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task/${var.name}/*"]
  }
  statement {
    sid       = "PassExactlyTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadTheTaskLogs"
    actions   = ["logs:GetLogEvents"]
    resources = ["${aws_cloudwatch_log_group.task.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "airflow" {
  name   = "run-bookpipe"
  role   = aws_iam_role.airflow.id
  policy = data.aws_iam_policy_document.airflow.json
}
