//! `mycelium token create|list|revoke`: API tokens, stored as the sha256 of
//! their secret.

use std::io::Write;

use serde_json::json;

use super::auth::hash;
use crate::cli::render::{Table, age, age_opt, write_json};
use crate::cli::{Context, Error, Result};
use crate::model::now_ms;
use crate::storage::{Scope, Store, Token};

/// A fresh secret: `myc_` and 40 random hex digits (160 bits).
fn secret() -> String {
    let bytes: [u8; 20] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("myc_{hex}")
}

pub(super) fn create(store: &Store, scope: &str, name: &str, out: &mut dyn Write, json: bool) -> Result<()> {
    let scope: Scope = scope.parse().map_err(Error::Message)?;
    let secret = secret();
    let token = Token { name: name.to_owned(), scope, hash: hash(&secret), created_at: now_ms(), revoked_at: None };
    store.create_token(&token).with_context(|| format!("create token `{name}`"))?;
    if json {
        return write_json(out, &json!({ "name": name, "scope": scope, "secret": secret }));
    }
    writeln!(out, "created token `{name}` ({scope}); its secret, shown only now:")?;
    writeln!(out, "{secret}")?;
    writeln!(out, "use it as `Authorization: Bearer {secret}`")?;
    Ok(())
}

pub(super) fn list(store: &Store, out: &mut dyn Write, json: bool) -> Result<()> {
    let tokens = store.tokens().context("read the tokens")?;
    if json {
        let shown: Vec<_> = tokens
            .iter()
            .map(
                |t| json!({ "name": t.name, "scope": t.scope, "created_at": t.created_at, "revoked_at": t.revoked_at }),
            )
            .collect();
        return write_json(out, &shown);
    }
    if tokens.is_empty() {
        writeln!(out, "no tokens (create one with `mycelium token create --scope read --name NAME`)")?;
        return Ok(());
    }
    let now = now_ms();
    let mut table = Table::new(&["name", "scope", "created", "revoked"]);
    for t in &tokens {
        table.row(vec![t.name.clone(), t.scope.to_string(), age(now, t.created_at), age_opt(now, t.revoked_at)]);
    }
    table.write(out)?;
    Ok(())
}

pub(super) fn revoke(store: &Store, name: &str, out: &mut dyn Write, json: bool) -> Result<()> {
    let revoked = store.revoke_token(name).with_context(|| format!("revoke token `{name}`"))?;
    if !revoked {
        return Err(Error::not_found(format!(
            "no active token is named `{name}` (list them with `mycelium token list`)"
        )));
    }
    if json {
        return write_json(out, &json!({ "name": name, "revoked": true }));
    }
    writeln!(out, "revoked token `{name}`")?;
    Ok(())
}
