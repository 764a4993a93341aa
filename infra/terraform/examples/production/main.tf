# An example root: bookpipe in eu-west-1 with its lake, task, roles, catalog and Redshift Serverless.
#   terraform init && terraform apply -var image_tag=1.4.0
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }
}

provider "aws" {
  region = "eu-west-1"
}

variable "image_tag" {
  description = "The bookpipe image version to run (pushed to the module's repository)."
  type        = string
}

module "bookpipe" {
  source = "../../modules/bookpipe"

  name             = "bookpipe"
  lake_bucket_name = "example-bookpipe-lake"
  lake_prefix      = "prod"
  image_tag        = var.image_tag
  warehouse_url    = "redshift://bookpipe_loader@bookpipe.123456789012.eu-west-1.redshift-serverless.amazonaws.com:5439/books?sslmode=verify-full"
  # The MWAA environment's execution role.
  airflow_principal_arns = ["arn:aws:iam::123456789012:role/mwaa-bookpipe-execution"]

  enable_redshift             = true
  redshift_subnet_ids         = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002", "subnet-0a1b2c3d4e5f60003"]
  redshift_security_group_ids = ["sg-0a1b2c3d4e5f60001"]

  tags = { "team" = "data" }
}

output "dag_settings" {
  description = "The DAG's ECS runtime settings (Airflow Variables bookpipe_<name>)."
  value = {
    BOOKPIPE_RUNTIME             = "ecs"
    BOOKPIPE_LAKE                = module.bookpipe.lake_url
    BOOKPIPE_ECS_CLUSTER         = module.bookpipe.ecs_cluster
    BOOKPIPE_ECS_TASK_DEFINITION = module.bookpipe.ecs_task_definition
    BOOKPIPE_ECS_CONTAINER       = module.bookpipe.ecs_container
    BOOKPIPE_ECS_LOG_GROUP       = module.bookpipe.ecs_log_group
  }
}

output "redshift_copy_role_arn" {
  value = module.bookpipe.redshift_copy_role_arn
}
