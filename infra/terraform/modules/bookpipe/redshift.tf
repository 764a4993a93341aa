# Optional Redshift Serverless: `bookpipe load --warehouse redshift://...?iam_role=<copy role>` loads
# each slice with COPY ... FORMAT AS PARQUET straight from the lake's silver zone.
data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "redshift_copy" {
  count              = var.enable_redshift ? 1 : 0
  name               = "${var.name}-redshift-copy"
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "redshift_copy" {
  statement {
    sid       = "ListTheSilverZone"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.prefix}/silver/*"]
    }
  }
  statement {
    sid       = "ReadTheSilverZone"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.prefix}/silver/*"]
  }
  statement {
    sid       = "DecryptTheLake"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.bookpipe.arn]
  }
}

resource "aws_iam_role_policy" "redshift_copy" {
  count  = var.enable_redshift ? 1 : 0
  name   = "copy-from-silver"
  role   = aws_iam_role.redshift_copy[0].id
  policy = data.aws_iam_policy_document.redshift_copy.json
}

resource "aws_redshiftserverless_namespace" "warehouse" {
  count                            = var.enable_redshift ? 1 : 0
  namespace_name                   = var.name
  db_name                          = "books"
  admin_username                   = "bookpipe_admin"
  manage_admin_password            = true
  admin_password_secret_kms_key_id = aws_kms_key.bookpipe.arn
  kms_key_id                       = aws_kms_key.bookpipe.arn
  iam_roles                        = [aws_iam_role.redshift_copy[0].arn]
  default_iam_role_arn             = aws_iam_role.redshift_copy[0].arn
  log_exports                      = ["connectionlog", "userlog", "useractivitylog"]
  tags                             = local.tags
}

resource "aws_redshiftserverless_workgroup" "warehouse" {
  count                = var.enable_redshift ? 1 : 0
  namespace_name       = aws_redshiftserverless_namespace.warehouse[0].namespace_name
  workgroup_name       = var.name
  base_capacity        = var.redshift_base_capacity
  publicly_accessible  = false
  enhanced_vpc_routing = true
  subnet_ids           = var.redshift_subnet_ids
  security_group_ids   = var.redshift_security_group_ids
  config_parameter {
    parameter_key   = "require_ssl"
    parameter_value = "true"
  }
  tags = local.tags
}
