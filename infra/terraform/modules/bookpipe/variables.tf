variable "name" {
  description = "Name of the deployment: the ECS cluster, task definition family, container and ECR repository (the DAG's defaults are all 'bookpipe')."
  type        = string
  default     = "bookpipe"
}

variable "lake_bucket_name" {
  description = "Name of the S3 bucket that holds the lake."
  type        = string
}

variable "lake_prefix" {
  description = "Folder of the lake inside the bucket: BOOKPIPE_LAKE is s3://<bucket>/<prefix>."
  type        = string
  default     = "prod"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*$", var.lake_prefix))
    error_message = "lake_prefix is a plain folder path (lower-case letters, digits, '/', '_', '-')."
  }
}

variable "raw_infrequent_access_after_days" {
  description = "Days after which raw pages and author records move to S3 Standard-IA (transform reads them again only for a backfill)."
  type        = number
  default     = 30
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept (a redo replaces silver and gold objects)."
  type        = number
  default     = 90
}

variable "log_retention_days" {
  description = "Days the task's CloudWatch logs are kept."
  type        = number
  default     = 365
}

variable "image_tag" {
  description = "Immutable tag of the bookpipe image in the module's ECR repository (the task definition pins it)."
  type        = string
  validation {
    condition     = var.image_tag != "latest" && can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be an immutable version tag, not 'latest'."
  }
}

variable "task_cpu" {
  description = "Fargate CPU units of one task."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Fargate memory (MiB) of one task."
  type        = number
  default     = 2048
}

variable "warehouse_url" {
  description = "The warehouse URL without a password, e.g. postgres://etl@db.example.com:5432/books?sslmode=verify-full. The password is the secret's value."
  type        = string
  validation {
    condition     = !can(regex("^[a-z]+://[^/@]*:[^/@]*@", var.warehouse_url))
    error_message = "warehouse_url must not carry a password: put it in the secret."
  }
}

variable "airflow_principal_arns" {
  description = "IAM principals (the Airflow workers' role: MWAA execution role, an EKS service account role) allowed to assume the role that runs the task."
  type        = list(string)
}

variable "enable_redshift" {
  description = "Create Redshift Serverless (namespace, workgroup) with a role that can COPY from the lake's silver zone."
  type        = bool
  default     = false
}

variable "redshift_subnet_ids" {
  description = "Private subnets of the Redshift Serverless workgroup (with enable_redshift)."
  type        = list(string)
  default     = []
}

variable "redshift_security_group_ids" {
  description = "Security groups of the Redshift Serverless workgroup (with enable_redshift)."
  type        = list(string)
  default     = []
}

variable "redshift_base_capacity" {
  description = "Base RPUs of the Redshift Serverless workgroup."
  type        = number
  default     = 8
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
