terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

# Plan-only provider settings: `terraform plan` makes no AWS call for these resources.
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "plan-only"
  secret_key                  = "plan-only"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

locals {
  account   = "123456789012"
  appliance = "111111111111"
  ec2_actions = [
    "ec2:AttachNetworkInterface", "ec2:AttachVolume", "ec2:CopySnapshot", "ec2:CreateKeyPair",
    "ec2:CreateNetworkInterface", "ec2:CreateSnapshot", "ec2:CreateTags", "ec2:CreateVolume",
    "ec2:DeleteKeyPair", "ec2:DeleteNetworkInterface", "ec2:DeleteSnapshot", "ec2:DeleteVolume",
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInstanceAttribute", "ec2:DescribeInstances", "ec2:DescribeKeyPairs",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeRegions", "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups", "ec2:DescribeSnapshotAttribute", "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets", "ec2:DescribeVolumeAttribute", "ec2:DescribeVolumes", "ec2:DescribeVpcs",
    "ec2:DetachVolume", "ec2:ModifyInstanceAttribute", "ec2:RunInstances", "ec2:StartInstances",
    "ec2:StopInstances", "ec2:TerminateInstances",
  ]
  other_actions = [
    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
    "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
    "iam:GetContextKeysForPrincipalPolicy", "iam:GetRole", "iam:ListAccountAliases",
    "iam:ListInstanceProfilesForRole", "iam:PassRole", "iam:SimulatePrincipalPolicy",
    "kms:CreateGrant", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListAliases", "kms:ListKeys",
    "kms:ReEncryptFrom", "kms:ReEncryptTo", "servicequotas:ListServiceQuotas",
    "sqs:CreateQueue", "sqs:DeleteMessage", "sqs:DeleteQueue", "sqs:ListQueues", "sqs:ReceiveMessage",
    "sqs:SetQueueAttributes", "sqs:SendMessage",
    "ssm:DescribeAssociation", "ssm:DescribeDocument", "ssm:GetCommandInvocation",
    "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument", "ssm:GetManifest", "ssm:GetParameter",
    "ssm:GetParameters", "ssm:ListAssociations", "ssm:ListInstanceAssociations", "ssm:PutComplianceItems",
    "ssm:PutConfigurePackageResult", "ssm:PutInventory", "ssm:SendCommand", "ssm:UpdateAssociationStatus",
    "ssm:UpdateInstanceAssociationStatus", "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
  ]
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.appliance}:root"]
    }
  }
}

data "aws_iam_policy_document" "ec2" {
  statement {
    actions   = local.ec2_actions
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "other" {
  statement {
    actions   = local.other_actions
    resources = ["*"]
  }
}
