//! API tokens on SQLite: the `tokens` table (migration V3).

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::model::now_ms;
use crate::storage::{Result, Scope, Token};

impl SqliteStore {
    pub(super) fn insert_token(&self, token: &Token) -> Result<()> {
        token.validate()?;
        self.write("create a token", |tx| {
            let taken: Option<i64> = tx
                .prepare_cached("SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at IS NULL")?
                .query_row([&token.name], |r| r.get(0))
                .optional()?;
            if taken.is_some() {
                return Err(Token::duplicate(&token.name));
            }
            tx.prepare_cached(
                "INSERT INTO tokens(name, scope, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                token.name,
                token.scope.as_str(),
                token.hash,
                token.created_at,
                token.revoked_at
            ])?;
            Ok(())
        })
    }

    pub(super) fn revoke(&self, name: &str) -> Result<bool> {
        self.write("revoke a token", |tx| {
            let n = tx
                .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL")?
                .execute(params![name, now_ms()])?;
            Ok(n > 0)
        })
    }

    pub(super) fn read_tokens(&self) -> Result<Vec<Token>> {
        let conn = self.reader();
        let out = conn
            .prepare_cached("SELECT name, scope, hash, created_at, revoked_at FROM tokens ORDER BY created_at, rowid")?
            .query_map([], |r| {
                let scope: String = r.get(1)?;
                Ok(Token {
                    name: r.get(0)?,
                    // The table's CHECK admits only known scopes; anything else reads as the least.
                    scope: scope.parse().unwrap_or(Scope::Read),
                    hash: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>();
        out.map_err(self.err("read tokens"))
    }
}
