//! The agents' options of `#[task(..)]`: `receives = [..]`, `consumes`,
//! `exchange`, `topics`, `every`, `start_after`, `cron`, `tz`, `missed`,
//! `overlap`; checked here so that a mistake is a compile error pointing at
//! it (the elf checks them again when it registers).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprArray, Lit, LitStr, Token, Type};

use crate::signature::TaskFn;

/// The agents' keys, for error messages.
pub(crate) const KEYS: &str = "receives, consumes, exchange, topics, every, start_after, cron, tz, missed, overlap";

/// What the agents' options declare.
#[derive(Default)]
pub(crate) struct AgentArgs {
    receives: Option<(Span, Vec<Type>)>,
    consumes: Option<LitStr>,
    exchange: Option<LitStr>,
    topics: Option<(Span, Vec<LitStr>)>,
    every: Option<LitStr>,
    start_after: Option<LitStr>,
    cron: Option<LitStr>,
    tz: Option<LitStr>,
    missed: Option<LitStr>,
    overlap: Option<LitStr>,
}

impl std::fmt::Debug for AgentArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentArgs").finish_non_exhaustive()
    }
}

fn string(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<LitStr> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format_args!("`{key}` needs a value: `{key} = \"..\"`")));
    }
    match meta.value()?.parse::<Expr>()? {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Ok(s),
        other => Err(syn::Error::new_spanned(other, format_args!("`{key}` takes a string literal"))),
    }
}

fn array(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<ExprArray> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format_args!("`{key}` needs a list: `{key} = [..]`")));
    }
    match meta.value()?.parse::<Expr>()? {
        Expr::Array(a) => Ok(a),
        other => Err(syn::Error::new_spanned(other, format_args!("`{key}` takes a list: `{key} = [..]`"))),
    }
}

impl AgentArgs {
    /// Reads `key` if it is one of the agents' options.
    pub(crate) fn read(&mut self, key: &str, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
        match key {
            "receives" => {
                let list = array(meta, key)?;
                let mut types = Vec::new();
                for e in &list.elems {
                    types.push(syn::parse2::<Type>(e.to_token_stream()).map_err(|_| {
                        syn::Error::new_spanned(e, "`receives` lists signal types: `receives = [UserCreated, ..]`")
                    })?);
                }
                if types.is_empty() {
                    return Err(syn::Error::new_spanned(&list, "`receives` needs at least one signal type"));
                }
                self.receives = Some((list.bracket_token.span.join(), types));
            }
            "topics" => {
                let list = array(meta, key)?;
                let mut out = Vec::new();
                for e in &list.elems {
                    match e {
                        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
                            check_pattern(&s.value()).map_err(|m| syn::Error::new(s.span(), m))?;
                            out.push(s.clone());
                        }
                        other => return Err(syn::Error::new_spanned(other, "`topics` lists string literals")),
                    }
                }
                self.topics = Some((list.bracket_token.span.join(), out));
            }
            "consumes" | "exchange" => {
                let s = string(meta, key)?;
                check_name(key, &s)?;
                if key == "consumes" {
                    self.consumes = Some(s);
                } else {
                    self.exchange = Some(s);
                }
            }
            "every" | "start_after" => {
                let s = string(meta, key)?;
                let ms = parse_duration(&s.value()).map_err(|m| syn::Error::new(s.span(), m))?;
                if key == "every" && ms < 10 {
                    return Err(syn::Error::new(s.span(), "`every` must be at least 10ms"));
                }
                if key == "every" {
                    self.every = Some(s);
                } else {
                    self.start_after = Some(s);
                }
            }
            "cron" => {
                let s = string(meta, key)?;
                check_cron(&s.value()).map_err(|m| syn::Error::new(s.span(), m))?;
                self.cron = Some(s);
            }
            "tz" => self.tz = Some(string(meta, key)?),
            "missed" => {
                let s = string(meta, key)?;
                if !["skip", "once", "catch_up"].contains(&s.value().as_str()) {
                    return Err(syn::Error::new(s.span(), "`missed` is one of \"skip\", \"once\", \"catch_up\""));
                }
                self.missed = Some(s);
            }
            "overlap" => {
                let s = string(meta, key)?;
                if !["allow", "skip", "queue"].contains(&s.value().as_str()) {
                    return Err(syn::Error::new(s.span(), "`overlap` is one of \"allow\", \"skip\", \"queue\""));
                }
                self.overlap = Some(s);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks that the options fit together and fit the task's signature.
    pub(crate) fn check(&self, task: &TaskFn) -> syn::Result<()> {
        let scheduled = self.every.is_some() || self.cron.is_some();
        let roles = [self.receives.is_some(), self.consumes.is_some(), scheduled].iter().filter(|r| **r).count();
        let here = |lit: &Option<LitStr>| lit.as_ref().map_or(Span::call_site(), LitStr::span);
        if roles > 1 {
            return Err(syn::Error::new(
                Span::call_site(),
                "a task is a receiver (`receives`), a consumer (`consumes`) or scheduled (`every`/`cron`), not several",
            ));
        }
        if let (Some(_), Some(c)) = (&self.every, &self.cron) {
            return Err(syn::Error::new(c.span(), "give either `every` or `cron`, not both"));
        }
        for (given, needs, what) in [
            (&self.exchange, self.consumes.is_some(), "`exchange` binds a consumer's queue: add `consumes = \"..\"`"),
            (&self.start_after, self.every.is_some(), "`start_after` goes with `every`"),
            (&self.tz, self.cron.is_some(), "`tz` goes with `cron`"),
            (&self.missed, scheduled, "`missed` goes with `every` or `cron`"),
            (&self.overlap, scheduled, "`overlap` goes with `every` or `cron`"),
        ] {
            if given.is_some() && !needs {
                return Err(syn::Error::new(here(given), what));
            }
        }
        if let Some((span, _)) = &self.topics
            && self.exchange.is_none()
        {
            return Err(syn::Error::new(*span, "`topics` are patterns of an exchange: add `exchange = \"..\"`"));
        }
        let n = task.params.len();
        let sig = task.func.sig.paren_token.span.join();
        if let Some((span, _)) = &self.receives
            && n > 1
        {
            return Err(syn::Error::new(
                *span,
                format!("a receiver takes the signal's payload (one argument) or nothing, not {n} arguments"),
            ));
        }
        if self.consumes.is_some() && n != 1 {
            return Err(syn::Error::new(sig, format!("a consumer takes the message (one argument), not {n}")));
        }
        if scheduled && n != 0 {
            return Err(syn::Error::new(
                sig,
                "a scheduled task cannot take arguments: a tick cannot fill them (take `cx: &Context` and read `cx.tick()`, or schedule it with arguments: `mycelium schedules add --args`)",
            ));
        }
        Ok(())
    }

    /// The `role` of the generated `TASK`, and items the module gains (a
    /// consumer's typed `QUEUE`).
    pub(crate) fn expand(&self, task: &TaskFn, p: &TokenStream) -> (TokenStream, TokenStream) {
        let opt = |l: &Option<LitStr>| match l {
            Some(l) => quote!(::core::option::Option::Some(#l)),
            None => quote!(::core::option::Option::None),
        };
        if let Some((_, types)) = &self.receives {
            let types: Vec<Type> = types.iter().map(crate::types::rebase).collect();
            let role = quote! {
                #p::Role::Receiver(&[#(#p::SignalRef {
                    name: <#types as #p::Signal>::NAME,
                    schema: #p::schema_of::<#types>,
                }),*])
            };
            return (role, TokenStream::new());
        }
        if let Some(queue) = &self.consumes {
            let ty = task.params.first().map(|p| crate::types::rebase(&p.ty));
            let exchange = opt(&self.exchange);
            let topics: Vec<&LitStr> = self.topics.iter().flat_map(|(_, t)| t.iter()).collect();
            let role = quote! {
                #p::Role::Consumer(#p::QueueRef {
                    name: #queue,
                    schema: #p::schema_of::<#ty>,
                    exchange: #exchange,
                    topics: &[#(#topics),*],
                })
            };
            let handle = quote! {
                /// The queue this task consumes, typed by its message.
                pub const QUEUE: ::mycelium::agent::Queue<#ty> = ::mycelium::agent::Queue::named(#queue);
            };
            return (role, handle);
        }
        if self.every.is_some() || self.cron.is_some() {
            let (every, start_after, cron, tz, missed, overlap) = (
                opt(&self.every),
                opt(&self.start_after),
                opt(&self.cron),
                opt(&self.tz),
                opt(&self.missed),
                opt(&self.overlap),
            );
            let role = quote! {
                #p::Role::Scheduled(#p::ScheduleRef {
                    every: #every, start_after: #start_after, cron: #cron, tz: #tz, missed: #missed, overlap: #overlap,
                })
            };
            return (role, TokenStream::new());
        }
        (quote!(#p::Role::Plain), TokenStream::new())
    }
}

fn check_name(key: &str, s: &LitStr) -> syn::Result<()> {
    let v = s.value();
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
        return Err(syn::Error::new(
            s.span(),
            format!("`{key}` names a queue or exchange with letters, digits and _ - . : only"),
        ));
    }
    Ok(())
}

fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("a topic pattern cannot be empty (use \"#\" to match every routing key)".into());
    }
    for w in p.split('.') {
        let ok = w == "*"
            || w == "#"
            || (!w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !ok {
            return Err(format!(
                "topic pattern `{p}` has the word `{w}`: words are letters, digits, _ and -, or `*` / `#` alone"
            ));
        }
    }
    Ok(())
}

/// The runtime's duration syntax: `15s`, `500ms`, `1h30m`.
fn parse_duration(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a duration: write a number and a unit (ms, s, m, h, d), e.g. 15s, 500ms, 1h30m");
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[len..];
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    Ok(total)
}

/// Parses a five-field cron expression as the runtime does, naming the
/// field at fault.
fn check_cron(expr: &str) -> Result<(), String> {
    use croner::parser::{CronParser, Seconds, Year};
    let parser = || CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let expr = expr.trim();
    let known = if expr.eq_ignore_ascii_case("@midnight") { "@daily" } else { expr };
    let Err(whole) = parser().parse(known) else { return Ok(()) };
    let lead = format!("invalid cron expression `{expr}`");
    if expr.starts_with('@') {
        return Err(format!(
            "{lead}: unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
        ));
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{lead}: it has {} field(s); a cron expression has 5: minute hour day-of-month month day-of-week",
            fields.len()
        ));
    }
    const NAMES: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];
    for (i, field) in fields.iter().enumerate() {
        let mut alone = ["*"; 5];
        alone[i] = field;
        if let Err(e) = parser().parse(&alone.join(" ")) {
            return Err(format!("{lead}: field {} ({}) `{field}`: {e}", i + 1, NAMES[i]));
        }
    }
    Err(format!("{lead}: {whole}"))
}
