//! What `template.yaml` does for the scanners (checkov, cfn-lint; run by scripts/lint-infra.sh),
//! checked statically: the optional `KmsKeyArn` reaches everything it should encrypt and its use is
//! scoped to that key, the scheduled sweeper has a dead-letter queue with an alarm on it, and every
//! check skipped in a resource's metadata says why.

use airlock_testkit::workspace_root;
use serde_yaml_ng::Value as Yaml;

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn text(value: &Yaml) -> String {
    serde_yaml_ng::to_string(value).unwrap()
}

/// `value` is `!If [HasKmsKey, !Ref KmsKeyArn, ...]`.
fn is_the_key_when_given(value: &Yaml) -> bool {
    let Yaml::Tagged(tagged) = value else { return false };
    let Some(args) = tagged.value.as_sequence() else { return false };
    tagged.tag == "If"
        && args.first().and_then(Yaml::as_str) == Some("HasKmsKey")
        && text(&args[1]).trim() == "!Ref KmsKeyArn"
}

#[test]
fn the_kms_key_when_given_encrypts_the_table_logs_environment_bus_and_topic() {
    let template = template();
    let r = &template["Resources"];
    assert_eq!(template["Parameters"]["KmsKeyArn"]["Default"].as_str(), Some(""), "optional");
    assert!(is_the_key_when_given(&r["Table"]["Properties"]["SSESpecification"]["KMSMasterKeyId"]));
    assert!(is_the_key_when_given(&r["AuditBus"]["Properties"]["KmsKeyIdentifier"]));
    assert!(is_the_key_when_given(&r["AuditArchive"]["Properties"]["KmsKeyIdentifier"]));
    assert!(is_the_key_when_given(&template["Globals"]["Function"]["KmsKeyArn"]), "every function's environment");
    assert!(is_the_key_when_given(&r["AlarmTopic"]["Properties"]["KmsMasterKeyId"]));
    let mut log_groups = 0;
    for (id, resource) in r.as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Logs::LogGroup") {
            log_groups += 1;
            assert!(is_the_key_when_given(&resource["Properties"]["KmsKeyId"]), "{id:?}");
        }
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            assert!(resource["Properties"]["KmsKeyArn"].is_null(), "{id:?}: the Globals' key, not its own");
            let policies = text(&resource["Properties"]["Policies"]);
            assert!(policies.contains("- HasKmsKey\n  - !Ref KmsKeyUsePolicy"), "{id:?} may use the key: {policies}");
        }
    }
    assert!(log_groups >= 9, "every function's, the workflow's and the API's");
}

#[test]
fn the_key_is_used_only_as_far_as_needed() {
    let template = template();
    let policy = &template["Resources"]["KmsKeyUsePolicy"];
    assert_eq!(policy["Condition"].as_str(), Some("HasKmsKey"));
    for statement in policy["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap() {
        assert_eq!(text(&statement["Resource"]).trim(), "!Ref KmsKeyArn", "scoped to the key");
        for action in statement["Action"].as_sequence().unwrap() {
            let action = action.as_str().unwrap();
            assert!(action.starts_with("kms:") && !action.contains('*'), "{action}");
            assert!(!matches!(action, "kms:CreateGrant" | "kms:PutKeyPolicy" | "kms:ScheduleKeyDeletion"), "{action}");
        }
    }
}

#[test]
fn the_sweeper_has_a_dead_letter_queue_and_an_alarm_on_it() {
    let template = template();
    let r = &template["Resources"];
    let deescalate = &r["DeescalateFunction"]["Properties"];
    let queue_of_function = text(&deescalate["DeadLetterQueue"]["TargetArn"]);
    let queue_of_schedule = text(&deescalate["Events"]["Sweeper"]["Properties"]["DeadLetterConfig"]["Arn"]);
    assert_eq!(queue_of_function, queue_of_schedule, "failed sweeps and sweeps never started end in one queue");
    let queue = queue_of_function.trim().trim_start_matches("!GetAtt ").trim_end_matches(".Arn").to_string();
    assert_eq!(r[queue.as_str()]["Type"].as_str(), Some("AWS::SQS::Queue"), "{queue}");
    let alarmed = r.as_mapping().unwrap().values().any(|a| {
        a["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
            && a["Properties"]["Namespace"].as_str() == Some("AWS/SQS")
            && text(&a["Properties"]["Dimensions"]).contains(&format!("{queue}.QueueName"))
            && a["Properties"]["AlarmActions"].as_sequence().is_some_and(|actions| !actions.is_empty())
    });
    assert!(alarmed, "an alarm tells someone when {queue} holds a message");
}

#[test]
fn every_skipped_scanner_check_says_why() {
    let template = template();
    let mut skipped = 0;
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(skips) = resource["Metadata"]["checkov"]["skip"].as_sequence() else { continue };
        for skip in skips {
            skipped += 1;
            let check = skip["id"].as_str().unwrap_or_default();
            let comment = skip["comment"].as_str().unwrap_or_default();
            assert!(check.starts_with("CKV_"), "{id:?}: {check:?}");
            assert!(comment.split_whitespace().count() >= 5, "{id:?} skips {check} without a reason");
        }
    }
    assert!(skipped > 0);
}
