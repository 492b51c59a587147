//! Checking a manifest: from what is written to a [`Plan`], or every problem
//! found, each naming its line and the fix.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::binary::{Locator, Missing};
use super::manifest::{self, CoordinatorSection, Group, Manifest, ServeSection};
use super::plan::{Backoff, DEFAULT_GRACE, Mode, Plan, ProcessSpec, Restart};
use super::problem::Problem;
use crate::serve::Options;

/// Names a group cannot take: the launcher's own log prefixes.
const RESERVED: [&str; 3] = ["coordinator", "serve", "launch"];

/// Where `mycelium serve` listens unless `listen` says otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// Variables the launcher sets on every process.
const SET_BY_LAUNCHER: [&str; 2] = ["MYCELIUM_URL", "MYCELIUM_LAUNCH"];

/// Checks the manifest `text` (read from a file in `dir`): the plan, or
/// every problem found.
pub(crate) fn check(text: &str, dir: &Path, locator: &Locator, mycelium: &Path) -> Result<Plan, Vec<Problem>> {
    let (manifest, mut problems) = manifest::read(text);
    let plan = plan(&manifest, dir, locator, mycelium, &mut problems);
    if problems.is_empty() {
        return Ok(plan);
    }
    problems.sort_by_key(|p| p.span.as_ref().map_or(0, |s| s.start + 1));
    problems.dedup();
    Err(problems)
}

fn plan(m: &Manifest, dir: &Path, locator: &Locator, mycelium: &Path, problems: &mut Vec<Problem>) -> Plan {
    let store = match &m.top.store {
        None => {
            problems.push(Problem::whole(
                "the manifest has no `store`",
                "add a first line such as store = \"sqlite://mycelium.db\" (relative to the manifest)",
            ));
            String::new()
        }
        Some(s) => match crate::storage::check_url(s.get_ref()) {
            Ok(_) => absolute_store(s.get_ref(), dir),
            Err(e) => {
                problems.push(Problem::at(
                    s.span(),
                    format!("`store` is not a store URL: {e}"),
                    "write sqlite://path/to/mycelium.db or arangodb://user@host:8529/database",
                ));
                String::new()
            }
        },
    };
    let mode = m.top.mode.as_ref().map_or(Mode::default(), |s| *s.get_ref());
    let grace = m.top.grace_ms.as_ref().map_or(DEFAULT_GRACE, |g| Duration::from_millis(*g.get_ref()));
    let mut processes = Vec::new();

    match &m.coordinator {
        Some((_, c)) if c.enabled.as_ref().is_some_and(|e| !*e.get_ref()) => {}
        Some((span, c)) => processes.push(coordinator(c, span.clone(), mode, mycelium, problems)),
        None => processes.push(coordinator(&CoordinatorSection::default(), 0..0, mode, mycelium, problems)),
    }
    match &m.serve {
        Some((_, s)) if s.enabled.as_ref().is_some_and(|e| !*e.get_ref()) => {}
        Some((span, s)) => processes.push(serve(s, span.clone(), mode, dir, mycelium, problems)),
        None => {}
    }
    for g in &m.groups {
        processes.extend(group(g, mode, locator, problems));
    }
    if processes.is_empty() && problems.is_empty() {
        problems.push(Problem::whole(
            "the manifest launches nothing: the coordinator is off and there is no group",
            "add a group: [elves.animals] with binary = \"elf-animals\", or turn the coordinator on",
        ));
    }
    Plan { store, dir: dir.to_path_buf(), grace, mode, processes }
}

/// A relative SQLite path made absolute against the manifest's directory,
/// so that every process (and every message) names the same file.
fn absolute_store(url: &str, dir: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_owned();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').map_or((rest, None), |(p, q)| (p, Some(q)));
    if Path::new(path).is_absolute() {
        return url.to_owned();
    }
    let mut out = format!("sqlite://{}", dir.join(path).display());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn coordinator(
    c: &CoordinatorSection,
    span: Range<usize>,
    mode: Mode,
    mycelium: &Path,
    problems: &mut Vec<Problem>,
) -> ProcessSpec {
    let mut args = vec!["coordinator".to_owned()];
    if let Some(t) = &c.tick_ms {
        if *t.get_ref() < 10 {
            problems.push(Problem::at(
                t.span(),
                format!("tick_ms = {} is too short", t.get_ref()),
                "use 10 or more (the default is 500)",
            ));
        }
        args.extend(["--tick-ms".to_owned(), t.get_ref().to_string()]);
    }
    if let Some(d) = &c.doorbell_tcp {
        args.extend(["--doorbell-tcp".to_owned(), d.get_ref().clone()]);
    }
    args.extend(c.args.iter().flatten().cloned());
    let env = c.env.clone().unwrap_or_default();
    check_env(&env, span.clone(), "[coordinator]", problems);
    ProcessSpec {
        label: "coordinator.1".to_owned(),
        program: mycelium.to_path_buf(),
        args,
        env,
        restart: restart(c.restart.as_ref(), mode, "[coordinator]", problems),
        backoff: backoff(c.backoff_ms.as_ref(), c.backoff_max_ms.as_ref(), c.backoff_factor.as_ref(), problems),
    }
}

/// `mycelium serve` with the options of `[serve]`.
fn serve(
    s: &ServeSection,
    span: Range<usize>,
    mode: Mode,
    dir: &Path,
    mycelium: &Path,
    problems: &mut Vec<Problem>,
) -> ProcessSpec {
    let listen = s.listen.as_ref().map_or(DEFAULT_LISTEN, |l| l.get_ref().as_str());
    if let Some(l) = &s.listen
        && let Err(e) = l.get_ref().parse::<std::net::SocketAddr>()
    {
        problems.push(Problem::at(
            l.span(),
            format!("listen = \"{}\" in [serve] is not an IP address and port ({e})", l.get_ref()),
            "write an address and a port, such as listen = \"127.0.0.1:7070\" or \"[::1]:7070\" \
             (port 0 picks a free one; a host name such as localhost is not accepted)",
        ));
    }
    let mut args = vec!["serve".to_owned(), "--listen".to_owned(), listen.to_owned()];
    if s.allow_loopback_without_token.as_ref().is_some_and(|a| *a.get_ref()) {
        args.push("--allow-loopback-without-token".to_owned());
    }
    let env = s.env.clone().unwrap_or_default();
    if let Some(h) = &s.hooks {
        let path = dir.join(h.get_ref());
        if let Err(e) = crate::serve::check_hooks(&path, &env) {
            problems.push(Problem::at(
                h.span(),
                format!("hooks = \"{}\" in [serve] cannot be used: {e:#}", h.get_ref()),
                "point `hooks` at a webhooks file (JSON, relative to the manifest; see the README's webhooks), \
                 or remove the line",
            ));
        }
        args.extend(["--hooks".to_owned(), path.display().to_string()]);
    }
    if let Some(m) = &s.max_body_bytes {
        if *m.get_ref() == 0 {
            problems.push(Problem::at(
                m.span(),
                "max_body_bytes = 0 in [serve] would refuse every request with a body",
                format!("remove the line (the default is {}) or give a size in bytes", Options::default().max_body),
            ));
        }
        args.extend(["--max-body-bytes".to_owned(), m.get_ref().to_string()]);
    }
    args.extend(s.args.iter().flatten().cloned());
    check_env(&env, span, "[serve]", problems);
    ProcessSpec {
        label: "serve.1".to_owned(),
        program: mycelium.to_path_buf(),
        args,
        env,
        restart: restart(s.restart.as_ref(), mode, "[serve]", problems),
        backoff: backoff(s.backoff_ms.as_ref(), s.backoff_max_ms.as_ref(), s.backoff_factor.as_ref(), problems),
    }
}

fn group(g: &Group, mode: Mode, locator: &Locator, problems: &mut Vec<Problem>) -> Vec<ProcessSpec> {
    let name = g.name.get_ref();
    let s = &g.section;
    let what = format!("[elves.{name}]");
    let before = problems.len();
    if RESERVED.contains(&name.as_str()) {
        problems.push(Problem::at(
            g.name.span(),
            format!("duplicate name: `{name}` is the launcher's own name for its {name} process"),
            format!("call the group something else, e.g. [elves.{name}-elf]"),
        ));
    } else if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems.push(Problem::at(
            g.name.span(),
            format!("the group name `{name}` has characters other than letters, digits, `-` and `_`"),
            "rename it: the name becomes the log prefix and MYCELIUM_LAUNCH=<name>.<replica>",
        ));
    }
    let program = match &s.binary {
        None => {
            problems.push(Problem::at(
                g.name.span(),
                format!("{what} has no `binary`"),
                format!("add binary = \"elf-{name}\" (a cargo binary name, or a path relative to the manifest)"),
            ));
            None
        }
        Some(b) => find(b, locator, &what, problems),
    };
    let replicas = s.replicas.as_ref().map_or(1, |r| *r.get_ref());
    if let Some(r) = s.replicas.as_ref().filter(|r| *r.get_ref() == 0) {
        problems.push(Problem::at(
            r.span(),
            format!("{what} has zero replicas, so it would launch nothing"),
            "set replicas = 1 or more, or remove the group",
        ));
    }
    let mut args = Vec::new();
    if let Some(slots) = &s.slots {
        if *slots.get_ref() == 0 {
            problems.push(Problem::at(
                slots.span(),
                format!("{what} has slots = 0, so its elves could run nothing"),
                "set slots = 1 or more (elves default to 8)",
            ));
        }
        args.extend(["--slots".to_owned(), slots.get_ref().to_string()]);
    }
    args.extend(s.args.iter().flatten().cloned());
    let env = s.env.as_ref().map(|e| e.get_ref().clone()).unwrap_or_default();
    check_env(&env, s.env.as_ref().map_or(g.name.span(), Spanned::span), &what, problems);
    let restart = restart(s.restart.as_ref(), mode, &what, problems);
    let backoff = backoff(s.backoff_ms.as_ref(), s.backoff_max_ms.as_ref(), s.backoff_factor.as_ref(), problems);
    let Some(program) = program.filter(|_| problems.len() == before) else {
        return Vec::new();
    };
    (1..=replicas)
        .map(|i| ProcessSpec {
            label: format!("{name}.{i}"),
            program: program.clone(),
            args: args.clone(),
            env: env.clone(),
            restart,
            backoff,
        })
        .collect()
}

fn find(binary: &Spanned<String>, locator: &Locator, what: &str, problems: &mut Vec<Problem>) -> Option<PathBuf> {
    let name = binary.get_ref();
    match locator.find(name) {
        Ok(p) => Some(p),
        Err(Missing::NotExecutable { path, why }) => {
            problems.push(Problem::at(
                binary.span(),
                format!("the binary of {what}, {}, cannot run: {why}", path.display()),
                format!("make it an executable file (chmod +x {}) or point `binary` elsewhere", path.display()),
            ));
            None
        }
        Err(Missing::NotFound { looked, in_path, similar }) => {
            let mut places: String = looked.iter().map(|p| format!("\n         {}", p.display())).collect();
            if in_path {
                places.push_str("\n         and in every directory of $PATH");
            }
            let fix = match similar {
                Some(close) => format!("did you mean binary = \"{close}\"? Looked for{places}"),
                None if name.contains('/') => {
                    format!("correct the path (it is relative to the manifest's directory); looked for{places}")
                }
                None => format!("build it (cargo build --release --bin {name}) or give its path; looked for{places}"),
            };
            problems.push(Problem::at(binary.span(), format!("binary `{name}` of {what} not found"), fix));
            None
        }
    }
}

fn restart(value: Option<&Spanned<Restart>>, mode: Mode, what: &str, problems: &mut Vec<Problem>) -> Restart {
    match value {
        Some(r) if mode == Mode::Group => {
            problems.push(Problem::at(
                r.span(),
                format!(
                    "restart = \"{}\" in {what} has no effect in mode = \"group\", where any exit stops all",
                    r.get_ref()
                ),
                "remove the `restart` line, or set mode = \"supervise\" at the top",
            ));
            Restart::Never
        }
        Some(r) => *r.get_ref(),
        None if mode == Mode::Group => Restart::Never,
        None => Restart::OnFailure,
    }
}

fn backoff(
    first: Option<&Spanned<u64>>,
    max: Option<&Spanned<u64>>,
    factor: Option<&Spanned<f64>>,
    problems: &mut Vec<Problem>,
) -> Backoff {
    let d = Backoff::default();
    let b = Backoff {
        first: first.map_or(d.first, |f| Duration::from_millis(*f.get_ref())),
        max: max.map_or(d.max, |m| Duration::from_millis(*m.get_ref())),
        factor: factor.map_or(d.factor, |f| *f.get_ref()),
    };
    if let Some(f) = factor.filter(|f| !(f.get_ref().is_finite() && *f.get_ref() >= 1.0)) {
        problems.push(Problem::at(
            f.span(),
            format!("backoff_factor = {} would not grow the delay", f.get_ref()),
            "use 1.0 (a fixed delay) or more (2.0 doubles it)",
        ));
    }
    if b.max < b.first {
        let span = max.or(first).map_or(0..0, Spanned::span);
        problems.push(Problem::at(
            span,
            format!("backoff_max_ms ({} ms) is below backoff_ms ({} ms)", b.max.as_millis(), b.first.as_millis()),
            "make backoff_max_ms at least backoff_ms",
        ));
    }
    b
}

fn check_env(env: &BTreeMap<String, String>, span: Range<usize>, what: &str, problems: &mut Vec<Problem>) {
    for key in env.keys() {
        if SET_BY_LAUNCHER.contains(&key.as_str()) {
            problems.push(Problem::at(
                span.clone(),
                format!("env of {what} sets {key}, which the launcher sets itself"),
                format!("remove {key} from env (the store is the manifest's `store`)"),
            ));
        } else if key.is_empty() || key.contains('=') || key.contains('\0') {
            problems.push(Problem::at(
                span.clone(),
                format!("env of {what} has the name `{key}`, which cannot be an environment variable"),
                "use a name without `=`, like RUST_LOG",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_become_absolute() {
        let dir = Path::new("/srv/app");
        assert_eq!(absolute_store("sqlite://m.db", dir), "sqlite:///srv/app/m.db");
        assert_eq!(
            absolute_store("sqlite://../d/m.db?synchronous=full", dir),
            "sqlite:///srv/app/../d/m.db?synchronous=full"
        );
        assert_eq!(absolute_store("sqlite:///var/m.db", dir), "sqlite:///var/m.db");
        assert_eq!(absolute_store("arangodb://h:8529/db", dir), "arangodb://h:8529/db");
    }
}
