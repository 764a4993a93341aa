# One customer-managed key for the lake, its queue, the image repository, the logs, the secret
# and the warehouse: who may use data is decided by IAM policies naming this key.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key only, and the account administering its own key is AWS's default key policy.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is this key only.
  #checkov:skip=CKV_AWS_109:The account root administers the key (AWS's default key policy); without it the key becomes unmanageable.
  statement {
    # The account (its IAM policies) administers and uses the key: without this statement no IAM
    # policy could grant the task role kms:Decrypt.
    sid = "AccountAdministersAndDelegatesTheKey"
    actions = [
      "kms:CancelKeyDeletion", "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:DisableKey",
      "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListGrants",
      "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:ReEncryptTo",
      "kms:RetireGrant", "kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
      "kms:UntagResource", "kms:UpdateKeyDescription",
    ]
    resources = ["*"] # In a key policy, "*" is this key.
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "ServicesUseTheKey"
    actions = [
      "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom", "kms:ReEncryptTo",
    ]
    resources = ["*"] # In a key policy, "*" is this key.
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com", "sqs.amazonaws.com", "logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_kms_key" "bookpipe" {
  description             = "${var.name}: the lake, its events, image, logs, secret and warehouse"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "bookpipe" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.bookpipe.key_id
}
