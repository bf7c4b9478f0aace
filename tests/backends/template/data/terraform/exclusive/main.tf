# Exclusive policy management and for_each/count instances, as the AWS provider documents them.
# Each role's comment names the verdict its test expects. Provider documentation:
#   aws_iam_role (managed_policy_arns, inline_policy): https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role
#   aws_iam_role_policies_exclusive: https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role_policies_exclusive
#   aws_iam_role_policy_attachments_exclusive: https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_role_policy_attachments_exclusive
#   aws_iam_policy_attachment: https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/iam_policy_attachment

resource "aws_iam_policy" "grant" {
  name   = "TfGrant"
  policy = data.aws_iam_policy_document.small.json
}

resource "aws_iam_policy" "shared_grant" {
  name   = "TfSharedGrant"
  policy = data.aws_iam_policy_document.small.json
}

resource "aws_iam_policy" "deny_tags" {
  name   = "TfDenyTags"
  policy = data.aws_iam_policy_document.deny_tags.json
}

data "aws_iam_policy_document" "small" {
  statement {
    actions   = ["ec2:CreateTags", "ec2:DescribeInstances"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "deny_tags" {
  statement {
    effect    = "Deny"
    actions   = ["ec2:CreateTags"]
    resources = ["*"]
  }
}

# for_each: a Deny on instance "a" only; "b" must still pass.
resource "aws_iam_role" "each" {
  for_each           = toset(["a", "b"])
  name               = "TfEach-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy" "each_grant" {
  for_each = aws_iam_role.each
  name     = "grant"
  role     = each.value.name
  policy   = data.aws_iam_policy_document.small.json
}

resource "aws_iam_role_policy" "each_deny" {
  for_each = toset(["a"])
  name     = "deny-tags"
  role     = aws_iam_role.each[each.key].name
  policy   = data.aws_iam_policy_document.deny_tags.json
}

# count: a Deny attached to instance 0 only; instance 1 must still pass.
resource "aws_iam_role" "counted" {
  count              = 2
  name               = "TfCounted-${count.index}"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy_attachment" "counted_grant" {
  count      = 2
  role       = aws_iam_role.counted[count.index].name
  policy_arn = aws_iam_policy.grant.arn
}

resource "aws_iam_role_policy_attachment" "counted_deny" {
  role       = aws_iam_role.counted[0].name
  policy_arn = aws_iam_policy.deny_tags.arn
}

# managed_policy_arns is exclusive: the grant attached beside it is detached on apply.
resource "aws_iam_role" "managed_list" {
  name                = "TfManagedList"
  assume_role_policy  = data.aws_iam_policy_document.trust.json
  managed_policy_arns = []
}

resource "aws_iam_role_policy_attachment" "managed_list_grant" {
  role       = aws_iam_role.managed_list.name
  policy_arn = aws_iam_policy.grant.arn
}

# managed_policy_arns that refers to the grant: it stays, but the plan cannot show what else the list holds.
resource "aws_iam_role" "managed_listed" {
  name                = "TfManagedListed"
  assume_role_policy  = data.aws_iam_policy_document.trust.json
  managed_policy_arns = [aws_iam_policy.grant.arn]
}

# The same list with an ARN written literally beside the reference: the plan shows only the
# reference, so AWSDenyAll is invisible in it; neither role can pass on the plan alone.
resource "aws_iam_role" "managed_mixed" {
  name                = "TfManagedMixed"
  assume_role_policy  = data.aws_iam_policy_document.trust.json
  managed_policy_arns = [aws_iam_policy.grant.arn, "arn:aws:iam::aws:policy/AWSDenyAll"]
}

# inline_policy blocks are exclusive: an empty block removes every other inline policy.
resource "aws_iam_role" "inline_blocks" {
  name               = "TfInlineBlocks"
  assume_role_policy = data.aws_iam_policy_document.trust.json
  inline_policy {}
}

resource "aws_iam_role_policy" "inline_blocks_grant" {
  name   = "grant"
  role   = aws_iam_role.inline_blocks.name
  policy = data.aws_iam_policy_document.small.json
}

# aws_iam_role_policies_exclusive names the inline policies that stay: "grant" is not one.
resource "aws_iam_role" "policies_exclusive" {
  name               = "TfPoliciesExclusive"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy" "policies_exclusive_grant" {
  name   = "grant"
  role   = aws_iam_role.policies_exclusive.name
  policy = data.aws_iam_policy_document.small.json
}

resource "aws_iam_role_policy" "policies_exclusive_deny" {
  name   = "deny-tags"
  role   = aws_iam_role.policies_exclusive.name
  policy = data.aws_iam_policy_document.deny_tags.json
}

resource "aws_iam_role_policies_exclusive" "policies_exclusive" {
  role_name    = aws_iam_role.policies_exclusive.name
  policy_names = [aws_iam_role_policy.policies_exclusive_grant.name]
}

# aws_iam_policy_attachment is exclusive across the account: TfSharedGrant goes only to the roles it
# lists, so the attachment of TfSharedGrant to TfShared elsewhere is revoked on apply.
resource "aws_iam_role" "shared" {
  name               = "TfShared"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_role_policy_attachment" "shared_grant" {
  role       = aws_iam_role.shared.name
  policy_arn = aws_iam_policy.shared_grant.arn
}

resource "aws_iam_role" "listed" {
  name               = "TfListed"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

resource "aws_iam_policy_attachment" "grant_everywhere" {
  name       = "grant-everywhere"
  roles      = [aws_iam_role.listed.name]
  policy_arn = aws_iam_policy.shared_grant.arn
}
