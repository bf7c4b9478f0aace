# Every name known at plan time. aws_iam_role.worker meets veeam-flr-worker-prod;
# aws_iam_role.denied is broken on purpose (a Deny, a boundary, no instance profile, trust).

resource "aws_iam_role" "worker" {
  name               = "VeeamFLRWorkerTf"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy" "worker_ec2" {
  name   = "flr-ec2"
  role   = aws_iam_role.worker.name
  policy = data.aws_iam_policy_document.ec2.json
}

resource "aws_iam_policy" "worker_other" {
  name   = "VeeamFLRWorkerTfOther"
  policy = data.aws_iam_policy_document.other.json
}

resource "aws_iam_role_policy_attachment" "worker_other" {
  role       = aws_iam_role.worker.name
  policy_arn = aws_iam_policy.worker_other.arn
}

resource "aws_iam_role_policy_attachments_exclusive" "worker" {
  role_name   = aws_iam_role.worker.name
  policy_arns = ["arn:aws:iam::${local.account}:policy/VeeamFLRWorkerTfOther"]
}

resource "aws_iam_instance_profile" "worker" {
  name = "VeeamFLRWorkerTf"
  role = aws_iam_role.worker.name
}

data "aws_iam_policy_document" "no_deletes" {
  statement {
    sid       = "NoDeletes"
    effect    = "Deny"
    actions   = ["ec2:DeleteSnapshot", "ec2:DeleteVolume"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "boundary" {
  name = "VeeamFLRWorkerTfBoundary"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["ec2:*", "ssm:*", "ssmmessages:*", "ec2messages:*", "iam:*", "sqs:*"], Resource = "*" }]
  })
}

resource "aws_iam_role" "denied" {
  name                 = "VeeamFLRWorkerTfDenied"
  permissions_boundary = aws_iam_policy.boundary.arn
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  inline_policy {
    name   = "flr-ec2"
    policy = data.aws_iam_policy_document.ec2.json
  }
  inline_policy {
    name   = "no-deletes"
    policy = data.aws_iam_policy_document.no_deletes.json
  }
}

# Not aws_iam_policy_attachment: that one is exclusive across the account and would revoke
# VeeamFLRWorkerTfOther from aws_iam_role.worker (tests/template/data/terraform/exclusive shows it).
resource "aws_iam_role_policy_attachment" "denied_other" {
  role       = aws_iam_role.denied.name
  policy_arn = aws_iam_policy.worker_other.arn
}

resource "aws_iam_policy_attachment" "ssm_core" {
  name       = "ssm-core"
  roles      = [aws_iam_role.denied.name]
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
