//! `mycelium signals`, `mycelium emit` and `mycelium call`: signals, their
//! receivers, emitting one, calling the receivers of a request.

use std::io::Write;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{Value, json};

use super::render::{Table, age_opt, write_json};
use super::{Context, Result};
use crate::agent::Bus;
use crate::agent::spec::parse_duration;
use crate::model::now_ms;
use crate::storage::Store;

/// Arguments of `mycelium signals`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Print this signal's JSON Schema.
    #[arg(long, value_name = "SIGNAL")]
    pub(crate) schema: Option<String>,
}

/// Lists the declared signals with their receivers.
pub(crate) fn list(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let signals = store.signals().context("read the signals")?;
    let subs = store.subscriptions(None).context("read the subscriptions")?;
    if let Some(name) = args.schema {
        let Some(s) = signals.iter().find(|s| s.name == name) else {
            let known: Vec<&str> = signals.iter().map(|s| s.name.as_str()).collect();
            return Err(super::Error::not_found(format!(
                "unknown signal `{name}` (known: {})",
                if known.is_empty() { "none yet".to_owned() } else { known.join(", ") }
            )));
        };
        return write_json(out, &s.schema);
    }
    if json {
        return write_json(out, &json!({ "signals": signals, "subscriptions": subs }));
    }
    if signals.is_empty() {
        writeln!(
            out,
            "no signals (an elf declares the signals its receivers take, and those it emits, when it starts)"
        )?;
        return Ok(());
    }
    let now = now_ms();
    let mut table = Table::new(&["signal", "receivers", "emitted", "last", "declared by"]);
    for s in &signals {
        let receivers: Vec<String> =
            subs.iter().filter(|r| r.signal == s.name).map(|r| format!("{}/{}", r.elf, r.task)).collect();
        table.row(vec![
            s.name.clone(),
            if receivers.is_empty() { "-".to_owned() } else { receivers.join(", ") },
            s.emitted.to_string(),
            age_opt(now, s.last_emitted_at),
            s.declared_by.clone(),
        ]);
    }
    table.write(out)?;
    Ok(())
}

/// Parses `--data`: JSON, with the error naming it.
pub(crate) fn data(text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .with_context(|| format!("--data `{text}` is not JSON (quote it: --data '{{\"user_id\": 7}}')"))
}

/// Arguments of `mycelium emit`.
#[derive(Debug, ClapArgs)]
pub(crate) struct EmitArgs {
    /// The signal.
    pub(crate) signal: String,
    /// The payload, as JSON.
    #[arg(long, default_value = "{}")]
    pub(crate) data: String,
    /// An idempotency key: emitting again with it does nothing.
    #[arg(long)]
    pub(crate) key: Option<String>,
}

/// Emits a signal.
pub(crate) fn emit(store: &Store, args: EmitArgs, out: &mut dyn Write, json: bool) -> Result<()> {
    let payload = data(&args.data)?;
    let emitted = store.emit(&crate::agent::Emission {
        signal: &args.signal,
        payload: &payload,
        key: args.key.as_deref(),
        sender: "cli",
    })?;
    Bus::new(store.clone()).ring(&emitted.readied);
    if json {
        return write_json(out, &emitted);
    }
    let which = if emitted.existing { " (already, with this key: nothing new)" } else { "" };
    match emitted.run {
        None => writeln!(
            out,
            "emitted {}: no receiver is subscribed, so nothing runs (receivers subscribe when their elf starts)",
            emitted.signal
        )?,
        Some(run) => {
            let to: Vec<String> =
                emitted.deliveries.iter().map(|d| format!("{}/{} (job {})", d.elf, d.task, d.job)).collect();
            writeln!(
                out,
                "emitted {} to {} receiver(s) in run {run}{which}: {}",
                emitted.signal,
                emitted.deliveries.len(),
                to.join(", ")
            )?;
        }
    }
    Ok(())
}

/// Arguments of `mycelium call`.
#[derive(Debug, ClapArgs)]
pub(crate) struct CallArgs {
    /// The request's signal.
    pub(crate) signal: String,
    /// The payload, as JSON.
    #[arg(long, default_value = "{}")]
    pub(crate) data: String,
    /// How long to wait for answers (`2s`, `500ms`).
    #[arg(long, default_value = "10s")]
    pub(crate) timeout: String,
}

/// Calls the receivers of a signal and prints their answers.
pub(crate) fn call(store: &Store, args: CallArgs, out: &mut dyn Write, json: bool) -> Result<()> {
    let payload = data(&args.data)?;
    let ms = parse_duration(&args.timeout).context("--timeout")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let bus = Bus::new(store.clone());
    let got = runtime.block_on(bus.call_json(&args.signal, payload).timeout(Duration::from_millis(ms)).gather())?;
    if json {
        return write_json(out, &got);
    }
    if got.run.is_none() {
        writeln!(out, "no receiver is subscribed to {}: nobody can answer", got.signal)?;
        return Ok(());
    }
    writeln!(out, "{} answer(s) to {} within {}:", got.answers.len(), got.signal, args.timeout)?;
    for a in &got.answers {
        let instance: String = a.instance.as_ref().map(|i| i.0.chars().take(8).collect()).unwrap_or_default();
        writeln!(out, "  {}/{} (instance {instance}, job {}): {}", a.elf, a.task, a.job, a.value)?;
    }
    for u in &got.unanswered {
        writeln!(out, "  {}/{} (job {}) did not answer: {}", u.elf, u.task, u.job, u.reason)?;
    }
    Ok(())
}

/// A store error keeps its class (an unknown signal is exit 3); the rest are
/// bad input (exit 1).
impl From<crate::agent::Error> for super::Error {
    fn from(e: crate::agent::Error) -> Self {
        match e {
            crate::agent::Error::Storage(e) => e.into(),
            other => super::Error::Message(other.to_string()),
        }
    }
}
