# The bookpipe deployment for one AWS region: the lake, the task and its image, least-privilege
# roles, the warehouse secret, the Glue catalog over the lake, and optionally Redshift Serverless.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 7.0"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  # The lake's root inside the bucket: what BOOKPIPE_LAKE names after the bucket.
  prefix    = trimsuffix(var.lake_prefix, "/")
  lake_url  = "s3://${aws_s3_bucket.lake.bucket}/${local.prefix}"
  tags      = merge({ "app" = var.name }, var.tags)
}
