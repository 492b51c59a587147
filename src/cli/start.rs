//! `mycelium start <elf>/<task> [ARGS]`: starts a task or a flow as a run
//! of one job, with JSON arguments (the dynamic API from the command line).

use std::io::Write;

use clap::Args as ClapArgs;
use serde_json::{Value, json};

use super::error::bail;
use super::lookup::TaskRef;
use super::render::write_json;
use super::{Context, Result};
use crate::model::{JobSpec, RunSpec, Submission};
use crate::storage::Store;

/// Arguments of `mycelium start`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// The task or flow, `elf/name`.
    pub(crate) task: String,
    /// Its arguments as a JSON list, in parameter order (default `[]`).
    #[arg(default_value = "[]")]
    pub(crate) args: String,
    /// The run's name (default: the task's).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// An idempotency key: starting again with it starts nothing new (and
    /// `mycelium signal <key> ...` names the flow by it).
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// The run's share of the elves relative to other runs while they
    /// compete (1 to 1024; default 1).
    #[arg(long)]
    pub(crate) weight: Option<u32>,
}

/// Starts a run of one job.
pub(crate) fn run(store: &Store, args: Args, out: &mut dyn Write, json: bool) -> Result<()> {
    let task = TaskRef::parse(&args.task)?;
    let values: Value = serde_json::from_str(&args.args).with_context(|| {
        format!("the arguments `{}` are not JSON (write them as a list, e.g. '[\"2024-06-01\", 3]')", args.args)
    })?;
    if !values.is_array() {
        bail!("the arguments `{}` are not a JSON list: write one value per parameter, e.g. '[3]'", args.args);
    }
    let mut run = RunSpec::named(args.name.unwrap_or_else(|| task.task.clone()));
    run.idempotency_key = args.key;
    run.weight = args.weight;
    let submitted = store
        .submit(&Submission { run, jobs: vec![JobSpec::new(&task.elf, &task.task, values)] })
        .with_context(|| format!("start {}", task.name()))?;
    if let Some(endpoint) = crate::doorbell::Endpoint::for_store(store) {
        crate::doorbell::ring(&endpoint, &submitted.readied);
    }
    let job = submitted.jobs.first().copied();
    if json {
        return write_json(out, &json!({ "run": submitted.run, "job": job, "existing": submitted.existing }));
    }
    let again = if submitted.existing { " (already started with this key)" } else { "" };
    let job = job.map_or_else(|| "-".to_owned(), |j| j.to_string());
    writeln!(out, "started run {}: job {job} ({}){again}", submitted.run, task.name())?;
    Ok(())
}
