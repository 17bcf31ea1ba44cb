//! Bearer-token authentication for `/api/v1`.

use subtle::ConstantTimeEq;

/// The accepted API bearer tokens (`AIRLOCK_API_TOKENS`, comma-separated).
#[derive(Clone, Default)]
pub struct ApiTokens(Vec<String>);

impl ApiTokens {
    /// Parses a comma-separated list; blanks are dropped.
    pub fn parse(list: &str) -> Self {
        Self(list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when the `Authorization` header value is `Bearer <one of the tokens>` (constant-time).
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
            return false;
        };
        self.0.iter().fold(false, |ok, token| ok | bool::from(token.as_bytes().ct_eq(given.as_bytes())))
    }
}

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiTokens({} configured)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_bearer_tokens_pass() {
        let tokens = ApiTokens::parse(" a1, ,b2 ");
        assert!(tokens.accepts(Some("Bearer a1")));
        assert!(tokens.accepts(Some("Bearer b2")));
        assert!(!tokens.accepts(Some("Bearer a")));
        assert!(!tokens.accepts(Some("a1")));
        assert!(!tokens.accepts(None));
        assert!(!ApiTokens::parse("").accepts(Some("Bearer ")));
    }
}
