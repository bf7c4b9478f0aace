# Names known only after apply (name_prefix), and policies that depend on resources not yet
# created. aws_iam_role.worker meets veeam-flr-worker-prod whatever the unknowns turn out to be;
# aws_iam_role.guarded cannot be decided before apply (a policy whose text is unknown could deny);
# aws_iam_role.bounded has a boundary whose document is unknown.

resource "aws_s3_bucket" "logs" {
  bucket_prefix = "veeam-flr-logs-"
}

resource "aws_iam_role" "worker" {
  name_prefix        = "VeeamFLRWorker-"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy" "worker_ec2" {
  name_prefix = "flr-ec2-"
  role        = aws_iam_role.worker.id
  policy      = data.aws_iam_policy_document.ec2.json
}

resource "aws_iam_policy" "worker_other" {
  name_prefix = "VeeamFLRWorkerOther-"
  policy      = data.aws_iam_policy_document.other.json
}

resource "aws_iam_role_policy_attachment" "worker_other" {
  role       = aws_iam_role.worker.name
  policy_arn = aws_iam_policy.worker_other.arn
}

resource "aws_iam_instance_profile" "worker" {
  name_prefix = "VeeamFLRWorker-"
  role        = aws_iam_role.worker.name
}

# --- guarded: the full grant, plus a policy whose text is known only after apply -------------
data "aws_iam_policy_document" "logs_guard" {
  statement {
    sid       = "OnlyTheLogBucket"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["*"]
    condition {
      test     = "StringNotLike"
      variable = "s3:prefix"
      values   = ["${aws_s3_bucket.logs.bucket}/*"]
    }
  }
}

resource "aws_iam_role" "guarded" {
  name_prefix        = "VeeamFLRGuarded-"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy" "guarded_ec2" {
  name_prefix = "flr-ec2-"
  role        = aws_iam_role.guarded.id
  policy      = data.aws_iam_policy_document.ec2.json
}

resource "aws_iam_role_policy" "guarded_logs" {
  name_prefix = "logs-guard-"
  role        = aws_iam_role.guarded.id
  policy      = data.aws_iam_policy_document.logs_guard.json
}

resource "aws_iam_role_policy_attachment" "guarded_other" {
  role       = aws_iam_role.guarded.name
  policy_arn = aws_iam_policy.worker_other.arn
}

resource "aws_iam_instance_profile" "guarded" {
  name_prefix = "VeeamFLRGuarded-"
  role        = aws_iam_role.guarded.name
}

# --- bounded: a permissions boundary whose document is unknown at plan time -----------------
resource "aws_iam_policy" "bucket_boundary" {
  name_prefix = "VeeamFLRBoundary-"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = "*", Resource = "*" },
      { Effect = "Deny", Action = "s3:DeleteBucket", Resource = aws_s3_bucket.logs.arn },
    ]
  })
}

resource "aws_iam_role" "bounded" {
  name_prefix          = "VeeamFLRBounded-"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  permissions_boundary = aws_iam_policy.bucket_boundary.arn
}

resource "aws_iam_role_policy" "bounded_ec2" {
  name_prefix = "flr-ec2-"
  role        = aws_iam_role.bounded.id
  policy      = data.aws_iam_policy_document.ec2.json
}

resource "aws_iam_role_policy_attachment" "bounded_other" {
  role       = aws_iam_role.bounded.name
  policy_arn = aws_iam_policy.worker_other.arn
}

resource "aws_iam_instance_profile" "bounded" {
  name_prefix = "VeeamFLRBounded-"
  role        = aws_iam_role.bounded.name
}
