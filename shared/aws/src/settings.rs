//! The environment contract of `airlock serve` and the Lambdas (README, "Run locally";
//! `template.yaml`), read once at start into [`Settings`]; nothing else reads the environment.
//!
//! | variable | used for |
//! |---|---|
//! | `AIRLOCK_CONFIG` | the config file (`AIRLOCK_CONFIG_PARAM`: an SSM parameter holding its text) |
//! | `SLACK_API_URL` | the Slack Web API base (default [`DEFAULT_SLACK_API_URL`]) |
//! | `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`, `AIRLOCK_API_TOKENS` | secrets ([`Secret`]) |
//! | `AIRLOCK_STORE`, `AIRLOCK_DATA`, `AIRLOCK_ADDR`, `AIRLOCK_SWEEP_INTERVAL`, `AIRLOCK_ESCALATION_RETRY` | `airlock serve`, parsed by the CLI |
//! | `AIRLOCK_TABLE` | the DynamoDB table |
//! | `AIRLOCK_CREATE_TABLE=1` | create the table when missing (local runs against an emulator) |
//! | `AIRLOCK_EVENT_BUS` | the EventBridge bus of audit events |
//! | `STATE_MACHINE_ARN` | the workflow's state machine |
//! | `AIRLOCK_DEESCALATE_FUNCTION` | the deescalate function (name or ARN), invoked at once for early revokes |
//! | `AIRLOCK_SSO_INSTANCE_ARN`, `AIRLOCK_IDENTITY_STORE_ID` | skip the ListInstances lookup (for that instance, or for all) |
//! | `PREFETCH_FUNCTION` | the prefetch Lambda that fetches `url` options inside the VPC |
//! | `AIRLOCK_WEBHOOK_SECRETS_PATH` | the SSM path holding one parameter per webhook `secret_env` |
//! | `<secret_env>` of a webhook target | that target's signing secret (local runs) |
//!
//! The AWS SDK reads its standard variables (`AWS_ENDPOINT_URL` included) itself.

use crate::assembly::SsoIdentityStore;
#[cfg(feature = "sdk")]
use crate::bootstrap;
use airlock_core::ports::{Store, Workflow};
use airlock_core::{Config, ConfigError};
use airlock_slack::DEFAULT_SLACK_API_URL;
use anyhow::Context;
use std::collections::HashMap;
use std::sync::Arc;

/// A secret `<NAME>`: read from the SSM SecureString parameter named by `<NAME>_PARAM` when that is
/// set, else the variable's own value. Its `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    name: &'static str,
    value: Option<String>,
    parameter: Option<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("value_set", &self.value.is_some())
            .field("parameter", &self.parameter)
            .finish()
    }
}

impl Secret {
    /// The value known without a call: the variable's own, or the one [`Settings::fetch_parameters`]
    /// read (`airlock serve` reads no SSM parameter).
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// The secret: from SSM when `<NAME>_PARAM` is set, else the variable's value; an error when
    /// neither is set or SSM fails. The value is never logged.
    pub async fn load(&self) -> anyhow::Result<String> {
        match (&self.parameter, &self.value) {
            (Some(parameter), _) => ssm_parameter(self.name, parameter).await,
            (None, Some(value)) => Ok(value.clone()),
            (None, None) => anyhow::bail!("{} is not set", self.name),
        }
    }
}

/// Every variable Airlock reads, taken once from the process environment ([`Self::from_env`]) or
/// from given pairs ([`Self::from_vars`], tests). Blank values count as unset.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `AIRLOCK_CONFIG`: the config file.
    pub config_file: Option<String>,
    /// `AIRLOCK_CONFIG_PARAM`: the SSM parameter holding the config text (the Lambdas).
    pub config_parameter: Option<String>,
    /// `SLACK_API_URL`, or [`DEFAULT_SLACK_API_URL`].
    pub slack_api_url: String,
    pub slack_bot_token: Secret,
    pub slack_signing_secret: Secret,
    pub api_tokens: Secret,
    /// `AIRLOCK_STORE` (`sqlite` or `dynamodb`), as given.
    pub store: Option<String>,
    /// `AIRLOCK_DATA`: the SQLite file.
    pub data: Option<String>,
    /// `AIRLOCK_ADDR`, as given.
    pub addr: Option<String>,
    /// `AIRLOCK_SWEEP_INTERVAL`, as given.
    pub sweep_interval: Option<String>,
    /// `AIRLOCK_ESCALATION_RETRY`, as given.
    pub escalation_retry: Option<String>,
    /// `AIRLOCK_TABLE`.
    pub table: Option<String>,
    /// `AIRLOCK_CREATE_TABLE` is `1` or `true`.
    pub create_table: bool,
    /// `AIRLOCK_EVENT_BUS`.
    pub event_bus: Option<String>,
    /// `STATE_MACHINE_ARN`.
    pub state_machine_arn: Option<String>,
    /// `AIRLOCK_DEESCALATE_FUNCTION`.
    pub deescalate_function: Option<String>,
    /// `AIRLOCK_SSO_INSTANCE_ARN`.
    pub sso_instance_arn: Option<String>,
    /// `AIRLOCK_IDENTITY_STORE_ID`.
    pub identity_store_id: Option<String>,
    /// `PREFETCH_FUNCTION`.
    pub prefetch_function: Option<String>,
    /// `AIRLOCK_WEBHOOK_SECRETS_PATH`.
    pub webhook_secrets_path: Option<String>,
    /// The config text read from `AIRLOCK_CONFIG_PARAM` by [`Self::fetch_parameters`].
    fetched_config: Option<String>,
    /// Every set variable, for the names the config gives (webhook targets' `secret_env`).
    vars: HashMap<String, String>,
}

impl Settings {
    /// Reads the process environment (variables that are not Unicode count as unset).
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    /// Settings from `vars`, as if they were the environment.
    pub fn from_vars<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        let vars: HashMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| !v.trim().is_empty()).collect();
        let var = |name: &str| vars.get(name).cloned();
        let secret = |name: &'static str| Secret { name, value: var(name), parameter: var(&format!("{name}_PARAM")) };
        Self {
            config_file: var("AIRLOCK_CONFIG"),
            config_parameter: var("AIRLOCK_CONFIG_PARAM"),
            slack_api_url: var("SLACK_API_URL").unwrap_or_else(|| DEFAULT_SLACK_API_URL.into()),
            slack_bot_token: secret("SLACK_BOT_TOKEN"),
            slack_signing_secret: secret("SLACK_SIGNING_SECRET"),
            api_tokens: secret("AIRLOCK_API_TOKENS"),
            store: var("AIRLOCK_STORE"),
            data: var("AIRLOCK_DATA"),
            addr: var("AIRLOCK_ADDR"),
            sweep_interval: var("AIRLOCK_SWEEP_INTERVAL"),
            escalation_retry: var("AIRLOCK_ESCALATION_RETRY"),
            table: var("AIRLOCK_TABLE"),
            create_table: var("AIRLOCK_CREATE_TABLE").is_some_and(|v| v == "1" || v == "true"),
            event_bus: var("AIRLOCK_EVENT_BUS"),
            state_machine_arn: var("STATE_MACHINE_ARN"),
            deescalate_function: var("AIRLOCK_DEESCALATE_FUNCTION"),
            sso_instance_arn: var("AIRLOCK_SSO_INSTANCE_ARN"),
            identity_store_id: var("AIRLOCK_IDENTITY_STORE_ID"),
            prefetch_function: var("PREFETCH_FUNCTION"),
            webhook_secrets_path: var("AIRLOCK_WEBHOOK_SECRETS_PATH"),
            fetched_config: None,
            vars,
        }
    }

    /// The text of the file at `AIRLOCK_CONFIG`, when set.
    pub fn config_file_text(&self) -> anyhow::Result<Option<String>> {
        self.config_file
            .as_ref()
            .map(|path| std::fs::read_to_string(path).with_context(|| format!("cannot read AIRLOCK_CONFIG={path}")))
            .transpose()
    }

    /// The config text of the Lambdas: the file at `AIRLOCK_CONFIG`, else the SSM parameter named by
    /// `AIRLOCK_CONFIG_PARAM` (read already when [`Self::fetch_parameters`] ran).
    pub async fn config_text(&self) -> anyhow::Result<String> {
        match (self.config_file_text()?, &self.fetched_config, &self.config_parameter) {
            (Some(text), _, _) => Ok(text),
            (None, Some(text), _) => Ok(text.clone()),
            (None, None, Some(parameter)) => ssm_parameter("AIRLOCK_CONFIG", parameter).await,
            (None, None, None) => anyhow::bail!("AIRLOCK_CONFIG is not set"),
        }
    }

    /// The SSM parameters these settings name (the config without `AIRLOCK_CONFIG`, and every
    /// secret with `<NAME>_PARAM`), as (what it holds, parameter name).
    pub fn parameters(&self) -> Vec<(&'static str, &str)> {
        let config = self.config_parameter.as_deref().filter(|_| self.config_file.is_none());
        let secrets = [&self.slack_bot_token, &self.slack_signing_secret, &self.api_tokens];
        config
            .map(|p| ("AIRLOCK_CONFIG", p))
            .into_iter()
            .chain(secrets.into_iter().filter_map(|s| Some((s.name, s.parameter.as_deref()?))))
            .collect()
    }

    /// Reads every parameter of [`Self::parameters`] with `ssm` in one `GetParameters` call, so that
    /// [`Self::config_text`] and [`Secret::load`] answer from memory afterwards. Makes no call when
    /// nothing is in SSM; a parameter that does not exist fails, naming it.
    #[cfg(feature = "sdk")]
    pub async fn fetch_parameters(mut self, ssm: &aws_sdk_ssm::Client) -> anyhow::Result<Self> {
        let wanted = self.parameters();
        if wanted.is_empty() {
            return Ok(self);
        }
        let values = bootstrap::ssm_parameters(ssm, &wanted).await?;
        if let Some(parameter) = self.config_parameter.as_deref().filter(|_| self.config_file.is_none()) {
            self.fetched_config = values.get(parameter).cloned();
        }
        for secret in [&mut self.slack_bot_token, &mut self.slack_signing_secret, &mut self.api_tokens] {
            if let Some(parameter) = secret.parameter.take() {
                secret.value = values.get(&parameter).cloned();
            }
        }
        Ok(self)
    }

    /// The variables a webhook target's `secret_env` may name: the whole snapshot but Airlock's own
    /// secrets. Not only the targets `config` names now: a grant of a target that has since left the
    /// config must still be removed, with the secret it was granted with.
    pub fn webhook_secret_vars(&self, _config: &Config) -> HashMap<String, String> {
        const OWN: [&str; 3] = ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "AIRLOCK_API_TOKENS"];
        self.vars
            .iter()
            .filter(|(name, _)| !OWN.contains(&name.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The webhook targets of `config` (read from `text`) whose secret variable is not set, naming
    /// their line.
    pub fn missing_webhook_secrets(&self, config: &Config, text: &str) -> Vec<ConfigError> {
        config.missing_webhook_secrets(text, |name| self.vars.get(name).cloned())
    }

    /// The DynamoDB store on `AIRLOCK_TABLE`, created first when `AIRLOCK_CREATE_TABLE` says so.
    pub async fn dynamo_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        let table = self.table.as_deref().context("AIRLOCK_TABLE is not set")?;
        dynamo_store(table, self.create_table).await
    }

    /// The identity store the `aws_sso` escalator uses, when given.
    pub fn sso_identity_store(&self) -> SsoIdentityStore {
        SsoIdentityStore {
            instance_arn: self.sso_instance_arn.clone(),
            identity_store_id: self.identity_store_id.clone(),
        }
    }

    /// The Step Functions workflow on `STATE_MACHINE_ARN`; with `AIRLOCK_DEESCALATE_FUNCTION`, early
    /// removals invoke that function.
    pub async fn step_functions(&self) -> anyhow::Result<Arc<dyn Workflow>> {
        let arn = self.state_machine_arn.as_deref().context("STATE_MACHINE_ARN is not set")?;
        step_functions(arn, self.deescalate_function.as_deref()).await
    }
}

#[cfg(feature = "sdk")]
async fn ssm_parameter(name: &str, parameter: &str) -> anyhow::Result<String> {
    bootstrap::ssm_parameter(name, parameter).await
}

#[cfg(feature = "sdk")]
async fn dynamo_store(table: &str, create: bool) -> anyhow::Result<Arc<dyn Store>> {
    bootstrap::dynamo_store(table, create).await
}

#[cfg(feature = "sdk")]
async fn step_functions(arn: &str, deescalate_function: Option<&str>) -> anyhow::Result<Arc<dyn Workflow>> {
    Ok(bootstrap::step_functions(arn, deescalate_function))
}

// Without the SDK: what needs AWS is refused, saying how to build with it.

#[cfg(not(feature = "sdk"))]
async fn ssm_parameter(name: &str, parameter: &str) -> anyhow::Result<String> {
    anyhow::bail!("{name} from the SSM parameter {parameter}: {}", crate::NO_SDK)
}

#[cfg(not(feature = "sdk"))]
async fn dynamo_store(table: &str, _create: bool) -> anyhow::Result<Arc<dyn Store>> {
    anyhow::bail!("AIRLOCK_STORE=dynamodb (table {table}): {}", crate::NO_SDK)
}

#[cfg(not(feature = "sdk"))]
async fn step_functions(arn: &str, _deescalate_function: Option<&str>) -> anyhow::Result<Arc<dyn Workflow>> {
    anyhow::bail!("STATE_MACHINE_ARN={arn}: {}", crate::NO_SDK)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
organization: { primary_domain: example.com, admins: [alice@example.com] }
slack: { command: /access }
flows:
  - name: billing
    label: Billing
    description: Billing tools
    approvers: { users: [bob@example.com] }
    durations: [1h]
    max_duration: 1h
    approval_timeout: 1h
    targets:
      - { name: console, label: Console, kind: webhook, url: "https://hooks.internal/a", secret_env: BILLING_HOOK_SECRET }
      - { name: refunds, label: Refunds, kind: webhook, url: "https://hooks.internal/b", secret_env: REFUNDS_HOOK_SECRET }
"#;

    #[test]
    fn blank_variables_are_unset_and_defaults_apply() {
        let settings = Settings::from_vars([("AIRLOCK_TABLE", "  "), ("AIRLOCK_EVENT_BUS", "bus")]);
        assert_eq!(settings.table, None);
        assert_eq!(settings.event_bus.as_deref(), Some("bus"));
        assert_eq!(settings.slack_api_url, DEFAULT_SLACK_API_URL);
        assert!(!settings.create_table);
        assert!(Settings::from_vars([("AIRLOCK_CREATE_TABLE", "true")]).create_table);
        assert!(!Settings::from_vars([("AIRLOCK_CREATE_TABLE", "yes")]).create_table);
    }

    #[tokio::test]
    async fn a_secret_is_its_value_unless_a_parameter_is_named() {
        let settings = Settings::from_vars([("SLACK_BOT_TOKEN", "xoxb-1")]);
        assert_eq!(settings.slack_bot_token.load().await.unwrap(), "xoxb-1");
        assert_eq!(settings.slack_bot_token.value(), Some("xoxb-1"));
        let err = settings.slack_signing_secret.load().await.unwrap_err();
        assert_eq!(err.to_string(), "SLACK_SIGNING_SECRET is not set");
        let with_param = Settings::from_vars([("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_BOT_TOKEN_PARAM", "/p")]);
        assert!(!format!("{:?}", with_param.slack_bot_token).contains("xoxb-1"), "Debug hides the value");
        assert_eq!(with_param.slack_bot_token.parameter.as_deref(), Some("/p"));
    }

    #[test]
    fn webhook_secrets_may_be_any_variable_but_airlocks_own_and_missing_ones_are_named() {
        let config = Config::from_yaml(CONFIG).unwrap();
        let settings = Settings::from_vars([
            ("BILLING_HOOK_SECRET", "s"),
            ("RETIRED_HOOK_SECRET", "r"),
            ("REFUNDS_HOOK_SECRET", ""),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
        ]);
        let secrets = settings.webhook_secret_vars(&config);
        assert_eq!(secrets.get("BILLING_HOOK_SECRET").map(String::as_str), Some("s"));
        assert_eq!(secrets.get("RETIRED_HOOK_SECRET").map(String::as_str), Some("r"), "a target no longer configured");
        assert!(!secrets.contains_key("SLACK_BOT_TOKEN") && !secrets.contains_key("REFUNDS_HOOK_SECRET"));
        let missing = settings.missing_webhook_secrets(&config, CONFIG);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].to_string().contains("REFUNDS_HOOK_SECRET"), "{}", missing[0]);
    }

    #[tokio::test]
    async fn the_lambdas_need_a_config_source() {
        let err = Settings::from_vars(Vec::<(String, String)>::new()).config_text().await.unwrap_err();
        assert_eq!(err.to_string(), "AIRLOCK_CONFIG is not set");
        let err = Settings::from_vars([("AIRLOCK_CONFIG", "/nonexistent/airlock.yaml")]).config_text().await;
        assert!(err.unwrap_err().to_string().contains("cannot read AIRLOCK_CONFIG=/nonexistent/airlock.yaml"));
    }
}
