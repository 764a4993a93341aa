output "lake_url" {
  description = "BOOKPIPE_LAKE for the task, the DAG and bookpipe on a laptop."
  value       = local.lake_url
}

output "lake_bucket" {
  value = aws_s3_bucket.lake.bucket
}

output "partition_committed_queue_arn" {
  description = "SQS queue told of every committed silver and gold partition (their _manifest.json)."
  value       = aws_sqs_queue.committed.arn
}

output "repository_url" {
  description = "Push the image here, tagged image_tag."
  value       = aws_ecr_repository.bookpipe.repository_url
}

output "ecs_cluster" {
  description = "BOOKPIPE_ECS_CLUSTER for the DAG."
  value       = aws_ecs_cluster.bookpipe.name
}

output "ecs_task_definition" {
  description = "BOOKPIPE_ECS_TASK_DEFINITION for the DAG: family:revision pins the image."
  value       = "${aws_ecs_task_definition.bookpipe.family}:${aws_ecs_task_definition.bookpipe.revision}"
}

output "ecs_container" {
  description = "BOOKPIPE_ECS_CONTAINER for the DAG."
  value       = var.name
}

output "ecs_log_group" {
  description = "BOOKPIPE_ECS_LOG_GROUP for the DAG."
  value       = aws_cloudwatch_log_group.task.name
}

output "task_role_arn" {
  value = aws_iam_role.task.arn
}

output "execution_role_arn" {
  value = aws_iam_role.execution.arn
}

output "airflow_role_arn" {
  description = "The role the Airflow workers assume (the aws_default connection's role_arn) to run the task."
  value       = aws_iam_role.airflow.arn
}

output "warehouse_password_secret_arn" {
  description = "Put the warehouse password here: aws secretsmanager put-secret-value --secret-id <arn> --secret-string ..."
  value       = aws_secretsmanager_secret.warehouse_password.arn
}

output "glue_database" {
  value = aws_glue_catalog_database.lake.name
}

output "athena_workgroup" {
  value = aws_athena_workgroup.lake.name
}

output "redshift_copy_role_arn" {
  description = "iam_role= of a redshift:// warehouse URL (with enable_redshift)."
  value       = var.enable_redshift ? aws_iam_role.redshift_copy[0].arn : null
}

output "redshift_endpoint" {
  value = var.enable_redshift ? aws_redshiftserverless_workgroup.warehouse[0].endpoint : null
}
