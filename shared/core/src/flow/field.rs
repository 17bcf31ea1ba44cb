//! [`FieldSpec`]: a custom field of a flow's request form, its [`FieldType`] and [`Prefetch`].

use super::validate_name;
use serde::{Deserialize, Serialize};

/// The type of a custom field on the request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Text,
    Int,
    Bool,
    Date,
    User,
    Select,
}

/// Where a field's options are fetched from when the form is shown (`{url: ...}` or `{lambda: ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPrefetch")]
pub enum Prefetch {
    /// GET this URL; it answers a JSON array of strings or of `{value, label}`.
    Url(String),
    /// Invoke this Lambda function; same answer shape.
    Lambda(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrefetch {
    url: Option<String>,
    lambda: Option<String>,
}

impl TryFrom<RawPrefetch> for Prefetch {
    type Error = String;

    fn try_from(raw: RawPrefetch) -> Result<Self, Self::Error> {
        match (raw.url, raw.lambda) {
            (Some(url), None) if url.starts_with("https://") || url.starts_with("http://") => Ok(Prefetch::Url(url)),
            (Some(url), None) => Err(format!("prefetch url {url:?} must be http(s)://…")),
            (None, Some(arn)) if arn.starts_with("arn:") => Ok(Prefetch::Lambda(arn)),
            (None, Some(arn)) => Err(format!("prefetch lambda {arn:?} must be a function ARN")),
            _ => Err("prefetch needs exactly one of `url` or `lambda`".into()),
        }
    }
}

/// A custom field of a flow's request form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawField")]
pub struct FieldSpec {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    pub allowed_values: Vec<String>,
    pub prefetch: Option<Prefetch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    label: Option<String>,
    #[serde(rename = "type")]
    field_type: FieldType,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    allowed_values: Vec<String>,
    prefetch: Option<Prefetch>,
}

impl TryFrom<RawField> for FieldSpec {
    type Error = String;

    fn try_from(raw: RawField) -> Result<Self, Self::Error> {
        validate_name("field", &raw.name)?;
        if matches!(raw.name.as_str(), "target" | "duration" | "reason") {
            return Err(format!("field name {:?} is reserved", raw.name));
        }
        match raw.field_type {
            FieldType::Select if raw.allowed_values.is_empty() && raw.prefetch.is_none() => {
                return Err(format!("select field {:?} needs allowed_values or prefetch", raw.name));
            }
            FieldType::String | FieldType::Text | FieldType::Select => {}
            _ if !raw.allowed_values.is_empty() => {
                return Err(format!("field {:?}: allowed_values only apply to string, text and select", raw.name));
            }
            _ => {}
        }
        if raw.prefetch.is_some() && raw.field_type != FieldType::Select {
            return Err(format!("field {:?}: prefetch only applies to select fields", raw.name));
        }
        if raw.allowed_values.len() > 100 {
            return Err(format!("field {:?}: at most 100 allowed_values (Slack's limit)", raw.name));
        }
        Ok(FieldSpec {
            label: raw.label.unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            field_type: raw.field_type,
            required: raw.required,
            allowed_values: raw.allowed_values,
            prefetch: raw.prefetch,
        })
    }
}
