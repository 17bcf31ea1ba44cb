#!/usr/bin/env python3
"""Prepares moto for the cold-start runs: a state machine for slack-ingress to start executions on,
and the config and secrets in SSM Parameter Store (as the stack stores them). Run with a Python that
has boto3 (the project's .venv, which moto brings). Prints the state machine's ARN.

  setup_aws.py MOTO_URL CONFIG_FILE PARAM_PREFIX
"""

import json
import sys

import boto3

endpoint, config_file, prefix = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
sfn = boto3.client("stepfunctions", **kw)
definition = {"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": True}}}
arn = sfn.create_state_machine(
    name="airlock-bench-workflow", definition=json.dumps(definition),
    roleArn="arn:aws:iam::123456789012:role/airlock-bench",
)["stateMachineArn"]
ssm = boto3.client("ssm", **kw)
with open(config_file) as f:
    config = f.read()
for name, value in [
    ("config", config),
    ("slack-bot-token", "xoxb-bench"),
    ("slack-signing-secret", "bench-signing-secret"),
    ("api-tokens", "bench:bench-token:admin"),
]:
    ssm.put_parameter(Name=f"{prefix}/{name}", Value=value, Type="SecureString", Overwrite=True)
print(arn)
