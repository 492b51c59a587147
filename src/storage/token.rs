//! API tokens of `mycelium serve`: bearer secrets with a scope, of which the
//! store keeps only the sha256, never the secret.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scope {
    /// Read everything: runs, jobs, failures, sources, events, metrics.
    Read,
    /// Read, and change things: submit, cancel, retry, serve jobs as an elf.
    Operator,
}

impl Scope {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operator => "operator",
        }
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Scope::Read),
            "operator" => Ok(Scope::Operator),
            _ => Err(format!("`{s}` is not a token scope: expected read or operator")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Token {
    /// Its name, unique among tokens not revoked.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// The sha256 of its secret, as 64 lowercase hex digits.
    pub hash: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was revoked, if it was.
    #[serde(default)]
    pub revoked_at: Option<Millis>,
}

impl Token {
    /// Checks the fields a store is given, naming what is wrong.
    pub(crate) fn validate(&self) -> super::Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(super::Error::invalid(
                format!("token name `{}`", self.name),
                "it must be 1 to 64 letters, digits, `-`, `_` or `.`",
                "choose a name such as ci-reader",
            ));
        }
        if self.hash.len() != 64 || !self.hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(super::Error::invalid(
                format!("hash of token `{}`", self.name),
                "it is not 64 lowercase hex digits",
                "store the sha256 of the secret, never the secret",
            ));
        }
        Ok(())
    }

    /// The error for a name already held by a token that is not revoked.
    pub(crate) fn duplicate(name: &str) -> super::Error {
        super::Error::invalid(
            format!("token name `{name}`"),
            "a token that is not revoked already has this name",
            format!("revoke it first (`mycelium token revoke {name}`) or choose another name"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_may_read_but_readers_may_not_operate() {
        assert!(Scope::Operator.allows(Scope::Read));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Operator));
        assert_eq!("operator".parse::<Scope>(), Ok(Scope::Operator));
        assert!("admin".parse::<Scope>().unwrap_err().contains("`admin`"));
    }

    #[test]
    fn names_and_hashes_are_checked() {
        let mut t = Token {
            name: "ci-reader".into(),
            scope: Scope::Read,
            hash: "a".repeat(64),
            created_at: 0,
            revoked_at: None,
        };
        assert!(t.validate().is_ok());
        t.name = "has space".into();
        assert!(t.validate().unwrap_err().to_string().contains("`has space`"));
        t.name = "ok".into();
        t.hash = "secret".into();
        assert!(t.validate().is_err());
    }
}
