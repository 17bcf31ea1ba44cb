//! Bearer-token authentication for `/api/v1`: named tokens with scopes.
//!
//! `AIRLOCK_API_TOKENS` holds entries separated by spaces, newlines or `;`. A named entry is
//! `name:token:scope,scope…` with scopes `submit`, `read`, `revoke` and `admin` (all of them); the
//! token's name is the audit actor for what it does. An entry without `:` is the older form, a
//! comma-separated list of bare tokens, each with full access under the name `legacy`.

use std::collections::HashSet;
use std::fmt;
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Create requests on anyone's behalf.
    Submit,
    /// Read and list requests.
    Read,
    /// Revoke grants early.
    Revoke,
    /// Everything.
    Admin,
}

impl Scope {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "submit" => Some(Scope::Submit),
            "read" => Some(Scope::Read),
            "revoke" => Some(Scope::Revoke),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Submit => "submit",
            Scope::Read => "read",
            Scope::Revoke => "revoke",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name legacy (unnamed) tokens act under.
pub const LEGACY_TOKEN_NAME: &str = "legacy";

/// One accepted token: its name (the audit actor), its secret and its scopes.
#[derive(Clone)]
struct ApiToken {
    name: String,
    secret: String,
    scopes: HashSet<Scope>,
}

/// The client a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// The token's name, e.g. `ci`.
    pub name: String,
    scopes: HashSet<Scope>,
}

impl ApiClient {
    /// True when the token has `scope` or `admin`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}

/// The accepted API bearer tokens (`AIRLOCK_API_TOKENS`).
#[derive(Clone, Default)]
pub struct ApiTokens(Vec<ApiToken>);

impl ApiTokens {
    /// Parses `AIRLOCK_API_TOKENS` (see the module docs); blanks are dropped. Logs a warning (never
    /// the token) when legacy tokens are present.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        for entry in list.split(|c: char| c == ';' || c.is_whitespace()).filter(|e| !e.is_empty()) {
            if entry.contains(':') {
                tokens.push(named(entry)?);
            } else {
                tokens.extend(entry.split(',').filter(|t| !t.is_empty()).map(|secret| ApiToken {
                    name: LEGACY_TOKEN_NAME.into(),
                    secret: secret.into(),
                    scopes: HashSet::from([Scope::Admin]),
                }));
            }
        }
        let mut names = HashSet::new();
        let mut secrets = HashSet::new();
        for token in &tokens {
            if token.name != LEGACY_TOKEN_NAME && !names.insert(token.name.as_str()) {
                return Err(format!("AIRLOCK_API_TOKENS: the name {:?} is used twice", token.name));
            }
            if !secrets.insert(token.secret.as_str()) {
                return Err(format!("AIRLOCK_API_TOKENS: the token named {:?} repeats another token", token.name));
            }
        }
        let legacy = tokens.iter().filter(|t| t.name == LEGACY_TOKEN_NAME).count();
        if legacy > 0 {
            tracing::warn!(
                legacy,
                "AIRLOCK_API_TOKENS has tokens without a name or scopes: they have full access and act as \
                 \"api:legacy\"; give each a name and scopes (name:token:submit,read,revoke)"
            );
        }
        Ok(Self(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client whose token the `Authorization` header (`Bearer <token>`) carries. Every token is
    /// compared, in constant time, whatever matches.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<ApiClient> {
        let given = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim)?;
        let mut found = None;
        for token in &self.0 {
            if bool::from(token.secret.as_bytes().ct_eq(given.as_bytes())) {
                found = Some(ApiClient { name: token.name.clone(), scopes: token.scopes.clone() });
            }
        }
        found
    }
}

/// `name:token:scope,scope…`; the token is everything between the first and the last `:`.
fn named(entry: &str) -> Result<ApiToken, String> {
    let bad = |why: &str| format!("AIRLOCK_API_TOKENS: an entry is not name:token:scopes ({why})");
    let (name, rest) = entry.split_once(':').ok_or_else(|| bad("no name"))?;
    let (secret, scopes) = rest.rsplit_once(':').ok_or_else(|| bad("no scopes"))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(bad("the name must be letters, digits, '-', '_' or '.'"));
    }
    if secret.is_empty() {
        return Err(bad(&format!("the token named {name:?} is empty")));
    }
    let scopes = scopes
        .split(',')
        .map(|word| {
            Scope::parse(word.trim()).ok_or_else(|| {
                format!("AIRLOCK_API_TOKENS: token {name:?} has unknown scope {word:?} (submit, read, revoke, admin)")
            })
        })
        .collect::<Result<HashSet<_>, _>>()?;
    Ok(ApiToken { name: name.into(), secret: secret.into(), scopes })
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|t| t.name.as_str()).collect();
        write!(f, "ApiTokens({names:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn client(tokens: &ApiTokens, header: &str) -> Option<ApiClient> {
        tokens.authenticate(Some(header))
    }

    #[test]
    fn only_listed_bearer_tokens_pass() {
        let tokens = ApiTokens::parse(" a1, ,b2 ").unwrap();
        assert!(client(&tokens, "Bearer a1").is_some());
        assert!(client(&tokens, "Bearer b2").is_some());
        assert!(client(&tokens, "Bearer a").is_none());
        assert!(client(&tokens, "a1").is_none());
        assert!(tokens.authenticate(None).is_none());
        assert!(ApiTokens::parse("").unwrap().authenticate(Some("Bearer ")).is_none());
    }

    #[test]
    fn legacy_tokens_have_every_scope() {
        let legacy = client(&ApiTokens::parse("a1,b2").unwrap(), "Bearer b2").unwrap();
        assert_eq!(legacy.name, LEGACY_TOKEN_NAME);
        for scope in [Scope::Submit, Scope::Read, Scope::Revoke, Scope::Admin] {
            assert!(legacy.may(scope), "{scope}");
        }
    }

    #[test]
    fn named_tokens_have_their_scopes() {
        let tokens = ApiTokens::parse("ci:T-1:submit,read\n deploy:T:2:revoke; ops:T3:admin old1,old2").unwrap();
        let ci = client(&tokens, "Bearer T-1").unwrap();
        assert_eq!(ci.name, "ci");
        assert!(ci.may(Scope::Submit) && ci.may(Scope::Read) && !ci.may(Scope::Revoke) && !ci.may(Scope::Admin));
        let deploy = client(&tokens, "Bearer T:2").unwrap();
        assert_eq!(deploy.name, "deploy", "a token may contain ':'");
        assert!(deploy.may(Scope::Revoke) && !deploy.may(Scope::Read));
        let ops = client(&tokens, "Bearer T3").unwrap();
        assert!(ops.may(Scope::Submit) && ops.may(Scope::Read) && ops.may(Scope::Revoke));
        assert_eq!(client(&tokens, "Bearer old2").unwrap().name, LEGACY_TOKEN_NAME);
        assert!(client(&tokens, "Bearer ci").is_none(), "a name is not a token");
    }

    #[test]
    fn mistakes_are_refused_without_showing_the_token() {
        for (list, expected) in [
            ("ci:secret-1:submit,write", "unknown scope \"write\""),
            ("ci:secret-1", "no scopes"),
            ("ci::read", "is empty"),
            (":secret-1:read", "the name must be"),
            ("ci:secret-1:read ci:secret-2:read", "used twice"),
            ("ci:secret-1:read secret-1", "repeats another token"),
        ] {
            let error = ApiTokens::parse(list).err().unwrap_or_else(|| panic!("{list:?} should be refused"));
            assert!(error.contains(expected), "{list:?}: {error}");
            assert!(!error.contains("secret-"), "the token leaks in {error:?}");
        }
        assert!(!format!("{:?}", ApiTokens::parse("ci:secret-1:read").unwrap()).contains("secret"));
    }

    proptest! {
        #[test]
        fn any_token_list_and_header_never_panic(list in any::<String>(), header in any::<String>()) {
            if let Ok(tokens) = ApiTokens::parse(&list) {
                let _ = tokens.authenticate(Some(&header));
            }
        }
    }
}
