//! API tokens of `mycelium serve`: created, listed, revoked.

use super::Store;
use crate::storage::{Error, Result, Token};

impl Store {
    /// Records an API token (its hash, never its secret). A name held by a
    /// token that is not revoked, or a hash already recorded, is refused
    /// with an error naming it.
    pub fn create_token(&self, token: &Token) -> Result<()> {
        token.validate()?;
        self.write("record a token", |w| {
            let all = w.tx.tokens()?;
            if all.iter().any(|t| t.name == token.name && t.revoked_at.is_none()) {
                return Err(Token::duplicate(&token.name));
            }
            if all.iter().any(|t| t.hash == token.hash) {
                return Err(Error::invalid(
                    format!("token `{}`", token.name),
                    "its secret is already in use",
                    "generate a new secret",
                ));
            }
            w.tx.insert_token(token)
        })
    }

    /// Revokes the token named `name`; whether one was active.
    pub fn revoke_token(&self, name: &str) -> Result<bool> {
        self.write("revoke a token", |w| {
            let at = w.now;
            w.tx.revoke_token(name, at)
        })
    }

    /// Every token, revoked ones included, oldest first.
    pub fn tokens(&self) -> Result<Vec<Token>> {
        self.read(|r| r.tokens())
    }
}
