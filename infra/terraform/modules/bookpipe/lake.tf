# The lake bucket (design doc: lake layout): raw/, silver/, gold/ under one prefix.
resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_18:Object access is audited by the account's CloudTrail S3 data events (who, with which role), which need no second bucket; S3 server access logs would.
  #checkov:skip=CKV_AWS_144:Replication needs a bucket and a provider in a second region, which the root chooses; versioning (below) keeps every overwritten or deleted object for noncurrent_version_expiration_days.
  bucket = var.lake_bucket_name
  tags   = local.tags
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.bookpipe.arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "lake" {
  statement {
    sid     = "DenyAnythingButTls"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.lake.arn,
      "${aws_s3_bucket.lake.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket     = aws_s3_bucket.lake.id
  policy     = data.aws_iam_policy_document.lake.json
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket     = aws_s3_bucket.lake.id
  depends_on = [aws_s3_bucket_versioning.lake]

  rule {
    id     = "raw-to-infrequent-access"
    status = "Enabled"
    filter {
      prefix = "${local.prefix}/raw/"
    }
    transition {
      days          = var.raw_infrequent_access_after_days
      storage_class = "STANDARD_IA"
    }
  }

  rule {
    id     = "expire-old-versions-and-abandoned-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

# A committed partition is announced: the _manifest.json of a silver or gold partition is written
# last (design doc: commit protocol), so its creation means "this partition is complete".
resource "aws_s3_bucket_notification" "lake" {
  bucket = aws_s3_bucket.lake.id

  queue {
    id            = "silver-committed"
    queue_arn     = aws_sqs_queue.committed.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "${local.prefix}/silver/"
    filter_suffix = "_manifest.json"
  }

  queue {
    id            = "gold-committed"
    queue_arn     = aws_sqs_queue.committed.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "${local.prefix}/gold/"
    filter_suffix = "_manifest.json"
  }

  depends_on = [aws_sqs_queue_policy.committed]
}

resource "aws_sqs_queue" "committed_dead_letters" {
  name                      = "${var.name}-partition-committed-dlq"
  kms_master_key_id         = aws_kms_key.bookpipe.arn
  message_retention_seconds = 1209600
  tags                      = local.tags
}

resource "aws_sqs_queue" "committed" {
  name                      = "${var.name}-partition-committed"
  kms_master_key_id         = aws_kms_key.bookpipe.arn
  message_retention_seconds = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.committed_dead_letters.arn
    maxReceiveCount     = 5
  })
  tags = local.tags
}

data "aws_iam_policy_document" "committed" {
  statement {
    sid       = "TheLakeAnnouncesCommits"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.committed.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.lake.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_sqs_queue_policy" "committed" {
  queue_url = aws_sqs_queue.committed.id
  policy    = data.aws_iam_policy_document.committed.json
}
