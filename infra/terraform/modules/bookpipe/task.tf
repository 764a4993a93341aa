# The image, the cluster and the Fargate task the DAG's ECS runtime runs (dags/bookpipe_runtime.py:
# cluster, task definition family, container name, log group and stream prefix are its defaults).
resource "aws_ecr_repository" "bookpipe" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.bookpipe.arn
  }
  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "bookpipe" {
  repository = aws_ecr_repository.bookpipe.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last 50 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "bookpipe" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = local.tags
}

resource "aws_cloudwatch_log_group" "task" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.bookpipe.arn
  tags              = local.tags
}

# The warehouse password; its value is set outside Terraform (never in state):
#   aws secretsmanager put-secret-value --secret-id <name> --secret-string "$PASSWORD"
resource "aws_secretsmanager_secret" "warehouse_password" {
  #checkov:skip=CKV2_AWS_57:The password belongs to the warehouse, which rotates it (RDS-managed or Redshift-managed credentials); a rotation Lambda here would fight it.
  name                    = "${var.name}/warehouse-password"
  description             = "Password of the warehouse user in warehouse_url; injected into the task as PGPASSWORD"
  kms_key_id              = aws_kms_key.bookpipe.arn
  recovery_window_in_days = 7
  tags                    = local.tags
}

locals {
  # What the container is told: the flags bookpipe reads (`bookpipe --help`), nothing else.
  task_environment = {
    BOOKPIPE_LAKE       = local.lake_url
    BOOKPIPE_WAREHOUSE  = var.warehouse_url
    BOOKPIPE_LOG_FORMAT = "json"
    AWS_REGION          = local.region
    # transform's sorted runs spill here: the one writable path of a read-only root.
    TMPDIR = "/tmp"
  }
}

resource "aws_ecs_task_definition" "bookpipe" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = var.name
    image                  = "${aws_ecr_repository.bookpipe.repository_url}:${var.image_tag}"
    essential              = true
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters        = { capabilities = { drop = ["ALL"] }, initProcessEnabled = true }
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    environment            = [for name, value in local.task_environment : { name = name, value = value }]
    # libpq's variable, which bookpipe reads when the URL carries no password.
    secrets = [{ name = "PGPASSWORD", valueFrom = aws_secretsmanager_secret.warehouse_password.arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.task.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "ecs"
      }
    }
  }])

  tags = local.tags
}
