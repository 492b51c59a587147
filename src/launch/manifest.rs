//! The manifest as written: its TOML shapes, and reading them with every
//! problem found at once where the document allows.
//!
//! ```toml
//! store = "sqlite://mycelium.db"   # required; relative to this file
//! grace_ms = 15000                  # SIGTERM, then SIGKILL after this long
//! mode = "supervise"                # or "group": one exit stops all
//!
//! [coordinator]                     # on unless enabled = false
//! tick_ms = 500
//!
//! [serve]                           # `mycelium serve`, when present
//! listen = "127.0.0.1:7070"
//!
//! [elves.animals]
//! binary = "elf-animals"            # a cargo binary name, or a path
//! replicas = 2
//! slots = 8
//! args = []
//! env = { ANIMALS_FILE = "animals.jsonl" }
//! restart = "on-failure"            # always | on-failure | never
//! backoff_ms = 500
//! backoff_max_ms = 30000
//! backoff_factor = 2.0
//! ```
//!
//! Every table is read on its own, and a key whose value is wrong is set
//! aside and the table read again, so one bad key does not hide the next.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::plan::{Mode, Restart};
use super::problem::{self, Problem};

/// The top level of a manifest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Top {
    /// The store URL.
    pub(crate) store: Option<Spanned<String>>,
    /// SIGTERM to SIGKILL, in milliseconds.
    pub(crate) grace_ms: Option<Spanned<u64>>,
    /// What one process's death means for the others.
    pub(crate) mode: Option<Spanned<Mode>>,
    /// Read on its own, as a [`CoordinatorSection`].
    #[expect(dead_code, reason = "present so that the key is known; its table is read on its own")]
    pub(crate) coordinator: Option<IgnoredAny>,
    /// Read on its own, as a [`ServeSection`].
    #[expect(dead_code, reason = "present so that the key is known; its table is read on its own")]
    pub(crate) serve: Option<IgnoredAny>,
    /// Read on its own, as [`GroupSection`]s.
    #[expect(dead_code, reason = "present so that the key is known; its table is read on its own")]
    pub(crate) elves: Option<IgnoredAny>,
}

/// `[coordinator]`: `mycelium coordinator`, run by the launcher itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoordinatorSection {
    /// On unless `false`.
    pub(crate) enabled: Option<Spanned<bool>>,
    /// `--tick-ms`.
    pub(crate) tick_ms: Option<Spanned<u64>>,
    /// `--doorbell-tcp`.
    pub(crate) doorbell_tcp: Option<Spanned<String>>,
    /// More arguments.
    pub(crate) args: Option<Vec<String>>,
    /// More environment.
    pub(crate) env: Option<BTreeMap<String, String>>,
    /// Restart policy.
    pub(crate) restart: Option<Spanned<Restart>>,
    /// First restart delay.
    pub(crate) backoff_ms: Option<Spanned<u64>>,
    /// Longest restart delay.
    pub(crate) backoff_max_ms: Option<Spanned<u64>>,
    /// Growth of the delay per quick restart.
    pub(crate) backoff_factor: Option<Spanned<f64>>,
}

/// `[serve]`: `mycelium serve` (the HTTP API and dashboard), run by the
/// launcher itself, with the options `mycelium serve` takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeSection {
    /// On unless `false` (a `[serve]` table asks for the server).
    pub(crate) enabled: Option<Spanned<bool>>,
    /// `--listen`: an IP address and a port.
    pub(crate) listen: Option<Spanned<String>>,
    /// `--allow-loopback-without-token`.
    pub(crate) allow_loopback_without_token: Option<Spanned<bool>>,
    /// `--hooks`: the webhooks file, relative to the manifest.
    pub(crate) hooks: Option<Spanned<String>>,
    /// `--max-body-bytes`.
    pub(crate) max_body_bytes: Option<Spanned<u64>>,
    /// More arguments.
    pub(crate) args: Option<Vec<String>>,
    /// More environment.
    pub(crate) env: Option<BTreeMap<String, String>>,
    /// Restart policy.
    pub(crate) restart: Option<Spanned<Restart>>,
    /// First restart delay.
    pub(crate) backoff_ms: Option<Spanned<u64>>,
    /// Longest restart delay.
    pub(crate) backoff_max_ms: Option<Spanned<u64>>,
    /// Growth of the delay per quick restart.
    pub(crate) backoff_factor: Option<Spanned<f64>>,
}

/// `[elves.<name>]`: a group of replicas of one binary.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupSection {
    /// A cargo binary name or a path (relative to the manifest).
    pub(crate) binary: Option<Spanned<String>>,
    /// How many processes (at least 1; default 1).
    pub(crate) replicas: Option<Spanned<u32>>,
    /// `--slots` for each.
    pub(crate) slots: Option<Spanned<u32>>,
    /// More arguments.
    pub(crate) args: Option<Vec<String>>,
    /// More environment.
    pub(crate) env: Option<Spanned<BTreeMap<String, String>>>,
    /// Restart policy.
    pub(crate) restart: Option<Spanned<Restart>>,
    /// First restart delay.
    pub(crate) backoff_ms: Option<Spanned<u64>>,
    /// Longest restart delay.
    pub(crate) backoff_max_ms: Option<Spanned<u64>>,
    /// Growth of the delay per quick restart.
    pub(crate) backoff_factor: Option<Spanned<f64>>,
}

/// A group as written: its name, where its header is, and its keys.
#[derive(Debug)]
pub(crate) struct Group {
    /// Its name, as in `[elves.<name>]`.
    pub(crate) name: Spanned<String>,
    /// Its keys.
    pub(crate) section: GroupSection,
}

/// A manifest as written (what could be read of it).
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    /// The top-level keys.
    pub(crate) top: Top,
    /// `[coordinator]`, if there is one, with the span of its header.
    pub(crate) coordinator: Option<(Range<usize>, CoordinatorSection)>,
    /// `[serve]`, if there is one, with the span of its header.
    pub(crate) serve: Option<(Range<usize>, ServeSection)>,
    /// The groups, in the order they are written.
    pub(crate) groups: Vec<Group>,
}

/// Reads `text`: what could be read, and every problem found.
///
/// Syntax errors other than duplicate keys leave nothing worth checking:
/// then the manifest is empty and the problems say where the syntax broke.
pub(crate) fn read(text: &str) -> (Manifest, Vec<Problem>) {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let mut problems = syntax_problems(text, &errors);
    if errors.iter().any(|e| e.message() != "duplicate key") {
        return (Manifest::default(), problems);
    }
    let top_value = Spanned::new(doc.span(), DeValue::Table(doc.get_ref().clone()));
    let top: Top = section(&top_value, "the top level", TOP_HELP, &mut problems).unwrap_or_default();
    let doc = doc.get_ref();

    let coordinator = doc.get("coordinator").and_then(|v| match v.get_ref() {
        // `coordinator = false` is short for `[coordinator] enabled = false`.
        DeValue::Boolean(on) => Some((
            v.span(),
            CoordinatorSection { enabled: Some(Spanned::new(v.span(), *on)), ..CoordinatorSection::default() },
        )),
        _ => section(v, "[coordinator]", COORDINATOR_HELP, &mut problems).map(|c| (header(doc, "coordinator", v), c)),
    });

    let serve = doc.get("serve").and_then(|v| match v.get_ref() {
        // `serve = true` is short for a `[serve]` table of defaults.
        DeValue::Boolean(on) => {
            Some((v.span(), ServeSection { enabled: Some(Spanned::new(v.span(), *on)), ..ServeSection::default() }))
        }
        _ => section(v, "[serve]", SERVE_HELP, &mut problems).map(|s| (header(doc, "serve", v), s)),
    });

    let mut groups = Vec::new();
    if let Some(elves) = doc.get("elves") {
        match elves.get_ref() {
            DeValue::Table(table) => {
                for (name, value) in table.iter() {
                    let what = format!("[elves.{}]", name.get_ref());
                    if let Some(section) = section::<GroupSection>(value, &what, GROUP_HELP, &mut problems) {
                        groups.push(Group { name: Spanned::new(name.span(), name.get_ref().to_string()), section });
                    }
                }
            }
            other => problems.push(Problem::at(
                elves.span(),
                format!("`elves` must be a table of groups, not {}", other.type_str()),
                "write each group as its own table: [elves.animals] then binary = \"elf-animals\" on the next line",
            )),
        }
    }
    groups.sort_by_key(|g| g.name.span().start);
    (Manifest { top, coordinator, serve, groups }, problems)
}

/// The span of a table's header (`[coordinator]`), or of its value.
fn header(doc: &DeTable<'_>, key: &str, value: &Spanned<DeValue<'_>>) -> Range<usize> {
    doc.iter().find(|(k, _)| k.get_ref() == key).map_or(value.span(), |(k, _)| k.span())
}

const TOP_HELP: &str =
    "the top level takes store, grace_ms, mode, and [coordinator], [serve] and [elves.<name>] tables";
const COORDINATOR_HELP: &str = "[coordinator] takes enabled, tick_ms, doorbell_tcp, args, env, restart, \
                                backoff_ms, backoff_max_ms, backoff_factor";
const SERVE_HELP: &str = "[serve] takes enabled, listen, allow_loopback_without_token, hooks, max_body_bytes, args, \
                          env, restart, backoff_ms, backoff_max_ms, backoff_factor";
const GROUP_HELP: &str = "a group takes binary, replicas, slots, args, env, restart, backoff_ms, \
                          backoff_max_ms, backoff_factor";

/// Reads one table into `T`, recording a problem for each key that does not
/// fit and reading the table again without it.
fn section<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    what: &str,
    help: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let DeValue::Table(table) = value.get_ref() else {
        problems.push(Problem::at(
            value.span(),
            format!("{what} must be a table, not {}", value.get_ref().type_str()),
            format!("write it as a table of keys: {help}"),
        ));
        return None;
    };
    let mut table = table.clone();
    for _ in 0..=table.len() {
        let attempt = Spanned::new(value.span(), DeValue::Table(table.clone()));
        let err = match T::deserialize(ValueDeserializer::from(attempt)) {
            Ok(v) => return Some(v),
            Err(err) => err,
        };
        let span = err.span().unwrap_or_else(|| value.span());
        problems.push(describe(err.message(), span.clone(), what, help));
        let inside = |outer: Range<usize>| outer.start <= span.start && span.end <= outer.end.max(outer.start + 1);
        let culprit = table.iter().find(|(k, v)| inside(k.span()) || inside(v.span())).map(|(k, _)| k.clone());
        table.remove(culprit?.get_ref().as_ref());
    }
    None
}

/// A problem from a serde message about `what`, with a fix.
fn describe(message: &str, span: Range<usize>, what: &str, help: &str) -> Problem {
    let expected = problem::expected_names(message);
    let name = problem::quoted(message).unwrap_or("");
    if message.starts_with("unknown field") {
        if what == "[serve]" && name.starts_with("token") {
            return Problem::at(
                span,
                format!("unknown key `{name}` in [serve]: the server's tokens are kept in the store"),
                "remove it, and create a token with `mycelium --store <the store> token create --scope read \
                 --name <name>` (or let this machine in with allow_loopback_without_token = true)",
            );
        }
        let fix = match problem::closest(name, expected.iter().copied()) {
            Some(close) => format!("did you mean `{close}`? ({help})"),
            None => format!("remove it: {help}"),
        };
        return Problem::at(span, format!("unknown key `{name}` in {what}"), fix);
    }
    if message.starts_with("unknown variant") {
        let choices = expected.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", ");
        let fix = match problem::closest(name, expected.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"? (one of {choices})"),
            None => format!("use one of {choices}"),
        };
        return Problem::at(span, format!("`{name}` is not a valid value in {what}"), fix);
    }
    let fix = if message.contains("expected u32") || message.contains("expected u64") {
        "write a whole number of at least 0, without quotes".to_owned()
    } else if message.contains("expected a boolean") {
        "write true or false, without quotes".to_owned()
    } else if message.contains("expected a string") {
        "write it as a quoted string".to_owned()
    } else if message.contains("expected a sequence") {
        "write a list of strings: [\"--flag\", \"value\"]".to_owned()
    } else {
        help.to_owned()
    };
    Problem::at(span, format!("{message} in {what}"), fix)
}

/// Problems from the TOML parser, with duplicate keys explained; the keys of
/// a table declared twice are not reported again.
fn syntax_problems(text: &str, errors: &[toml::de::Error]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut duplicate_table_line: Option<usize> = None;
    for e in errors {
        let span = e.span().unwrap_or(0..0);
        let line_no = problem::line_of(text, span.start);
        let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
        if e.message() != "duplicate key" {
            problems.push(Problem::at(span, format!("this is not valid TOML: {}", e.message()), "fix the syntax"));
            continue;
        }
        let key = text.get(span.clone()).unwrap_or("?");
        if line.starts_with('[') {
            duplicate_table_line = Some(line_no);
            let first = first_header(text, line, line_no);
            problems.push(Problem::at(
                span,
                format!("duplicate name: `{line}` is declared twice{first}"),
                "give each group its own name (the name is the log prefix and MYCELIUM_LAUNCH), or merge the two",
            ));
        } else if duplicate_table_line.is_some_and(|d| d < line_no && !has_header_between(text, d, line_no)) {
            // A key of the table just reported twice.
        } else {
            problems.push(Problem::at(span, format!("duplicate key `{key}`"), "keep one of the two lines"));
        }
    }
    problems
}

/// ", first on line N" for a table header that occurs before `line_no`.
fn first_header(text: &str, header: &str, line_no: usize) -> String {
    text.lines()
        .take(line_no - 1)
        .position(|l| l.trim() == header)
        .map_or_else(String::new, |i| format!(" (first on line {})", i + 1))
}

/// Whether a table header lies strictly between two lines (1-based).
fn has_header_between(text: &str, after: usize, before: usize) -> bool {
    text.lines().skip(after).take(before.saturating_sub(after + 1)).any(|l| l.trim_start().starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        read(text).1.into_iter().map(|p| format!("{} | {}", p.message, p.fix)).collect()
    }

    #[test]
    fn a_whole_manifest_reads() {
        let text = "store = \"sqlite://m.db\"\ngrace_ms = 100\nmode = \"group\"\n\
                    [coordinator]\ntick_ms = 50\n\
                    [elves.b]\nbinary = \"elf-b\"\n\
                    [elves.a]\nbinary = \"elf-a\"\nreplicas = 2\nenv = { X = \"1\" }\nrestart = \"never\"\n";
        let (m, problems) = read(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.top.store.map(Spanned::into_inner).as_deref(), Some("sqlite://m.db"));
        assert_eq!(m.top.mode.map(Spanned::into_inner), Some(Mode::Group));
        let names: Vec<&str> = m.groups.iter().map(|g| g.name.get_ref().as_str()).collect();
        assert_eq!(names, vec!["b", "a"], "manifest order");
        assert_eq!(m.groups[1].section.restart.as_ref().map(|r| *r.get_ref()), Some(Restart::Never));
        assert_eq!(m.coordinator.and_then(|(_, c)| c.tick_ms).map(Spanned::into_inner), Some(50));
    }

    #[test]
    fn every_bad_key_of_a_table_is_reported() {
        let text = "store = \"x\"\n[elves.a]\nbinary = \"a\"\nreplica = 2\nrestart = \"sometimes\"\nslots = -1\n";
        let m = messages(text);
        assert_eq!(m.len(), 3, "{m:#?}");
        assert!(
            m.iter().any(|p| p.starts_with("unknown key `replica` in [elves.a] | did you mean `replicas`?")),
            "{m:#?}"
        );
        assert!(m.iter().any(|p| p.starts_with("`sometimes` is not a valid value")), "{m:#?}");
        assert!(m.iter().any(|p| p.contains("slots") || p.contains("-1")), "{m:#?}");
    }

    #[test]
    fn serve_reads_and_coordinator_false_is_short() {
        let m = messages("store = \"x\"\ncoordinator = false\n[serve]\nport = 1\n");
        assert_eq!(m.len(), 1, "{m:#?}");
        assert!(m[0].starts_with("unknown key `port` in [serve] | remove it: [serve] takes enabled, listen"), "{m:#?}");
        let (manifest, problems) = read(
            "store = \"x\"\ncoordinator = false\n[serve]\nlisten = \"127.0.0.1:0\"\nallow_loopback_without_token = true\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(manifest.coordinator.and_then(|(_, c)| c.enabled).map(Spanned::into_inner), Some(false));
        let (span, serve) = manifest.serve.expect("a [serve] table");
        assert_eq!(serve.listen.map(Spanned::into_inner).as_deref(), Some("127.0.0.1:0"));
        assert_eq!(serve.allow_loopback_without_token.map(Spanned::into_inner), Some(true));
        assert_eq!(problem::line_of("store = \"x\"\ncoordinator = false\n[serve]\n", span.start), 3);
        let m = messages("store = \"x\"\n[serve]\ntoken = \"s\"\n");
        assert!(m[0].contains("the server's tokens are kept in the store | remove it, and create a token"), "{m:#?}");
        let (short, _) = read("store = \"x\"\nserve = true\n");
        assert_eq!(short.serve.and_then(|(_, s)| s.enabled).map(Spanned::into_inner), Some(true));
    }

    #[test]
    fn a_group_declared_twice_is_one_problem_naming_both_lines() {
        let text = "store = \"x\"\n[elves.a]\nbinary = \"a\"\n[elves.a]\nbinary = \"b\"\n";
        let (_, problems) = read(text);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].line_col(text).map(|(l, _)| l), Some(4));
        assert!(problems[0].message.contains("first on line 2"), "{problems:#?}");
    }

    #[test]
    fn broken_syntax_stops_the_reading() {
        let (m, problems) = read("store = \"x\nfoo = = 3\n");
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| p.message.starts_with("this is not valid TOML")), "{problems:#?}");
        assert!(m.top.store.is_none());
    }

    #[test]
    fn elves_must_be_tables() {
        let m = messages("store = \"x\"\nelves = 3\n");
        assert!(m.iter().any(|p| p.contains("`elves` must be a table of groups, not integer")), "{m:#?}");
        let m = messages("store = \"x\"\n[elves]\na = \"elf-a\"\n");
        assert!(m.iter().any(|p| p.starts_with("[elves.a] must be a table, not string")), "{m:#?}");
    }
}
