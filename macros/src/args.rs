//! The options inside `#[task(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Lit, LitStr};

/// Every key the attribute accepts, for error messages.
const KEYS: &str = "elf, retries, backoff_ms, backoff_factor, max_delay_ms, jitter, timeout_ms";

/// The retry policy an attribute declares (mirrors `RetryDefaults`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Retry {
    /// Attempts in all (`retries`).
    pub(crate) max_attempts: u32,
    /// First retry delay (`backoff_ms`).
    pub(crate) delay_ms: u64,
    /// Delay multiplier (`backoff_factor`).
    pub(crate) factor: f32,
    /// Longest delay (`max_delay_ms`).
    pub(crate) max_delay_ms: u64,
    /// Randomised delays (`jitter`).
    pub(crate) jitter: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { max_attempts: 1, delay_ms: 0, factor: 1.0, max_delay_ms: 60_000, jitter: false }
    }
}

/// The parsed attribute.
#[derive(Debug)]
pub(crate) struct TaskArgs {
    /// `elf = "..."`, when given.
    pub(crate) elf: Option<LitStr>,
    /// The retry options.
    pub(crate) retry: Retry,
    /// `timeout_ms = ...`, when given.
    pub(crate) timeout_ms: Option<u64>,
    /// The agents' options (`receives`, `consumes`, `every`, `cron`, ...).
    pub(crate) agent: crate::agent::AgentArgs,
}

impl TaskArgs {
    /// Parses the tokens between the attribute's parentheses (empty for a
    /// bare `#[task]`).
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut args = TaskArgs { elf: None, retry: Retry::default(), timeout_ms: None, agent: Default::default() };
        let mut seen: Vec<String> = Vec::new();
        let parser = syn::meta::parser(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            if seen.contains(&key) {
                return Err(meta.error(format_args!("`{key}` is given twice")));
            }
            match key.as_str() {
                "elf" => {
                    let lit = string(&meta)?;
                    if lit.value().trim().is_empty() {
                        return Err(syn::Error::new(lit.span(), "the elf name must not be empty"));
                    }
                    args.elf = Some(lit);
                }
                "retries" => {
                    let (n, span) = integer::<u32>(&meta)?;
                    if n == 0 {
                        return Err(syn::Error::new(span, "`retries` counts attempts in all and must be at least 1"));
                    }
                    args.retry.max_attempts = n;
                }
                "backoff_ms" => args.retry.delay_ms = integer::<u64>(&meta)?.0,
                "backoff_factor" => args.retry.factor = factor(&meta)?,
                "max_delay_ms" => args.retry.max_delay_ms = integer::<u64>(&meta)?.0,
                "jitter" => args.retry.jitter = flag(&meta)?,
                "timeout_ms" => {
                    let (n, span) = integer::<u64>(&meta)?;
                    if n == 0 {
                        return Err(syn::Error::new(span, "`timeout_ms` must be positive"));
                    }
                    args.timeout_ms = Some(n);
                }
                other => {
                    if !args.agent.read(other, &meta)? {
                        return Err(meta.error(format_args!(
                            "unknown `#[task]` option `{}`; expected one of: {KEYS}, {}",
                            path_text(&meta.path),
                            crate::agent::KEYS
                        )));
                    }
                }
            }
            seen.push(key);
            Ok(())
        });
        parser.parse2(attr)?;
        Ok(args)
    }
}

/// A path as written (`a::b`), for messages.
fn path_text(path: &syn::Path) -> String {
    path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::")
}

/// The literal after `key =`.
fn literal(meta: &ParseNestedMeta<'_>, expected: &str) -> syn::Result<Lit> {
    let key = path_text(&meta.path);
    if !meta.input.peek(syn::Token![=]) {
        return Err(meta.error(format_args!("`{key}` needs a value: `{key} = {expected}`")));
    }
    let value = meta.value()?;
    let expr: syn::Expr = value.parse()?;
    match expr {
        syn::Expr::Lit(syn::ExprLit { lit, .. }) => Ok(lit),
        other => Err(syn::Error::new_spanned(other, format_args!("`{key}` takes {expected} literal"))),
    }
}

/// `key = "text"`.
fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    match literal(meta, "a string")? {
        Lit::Str(s) => Ok(s),
        other => Err(wrong(meta, &other, "a string")),
    }
}

/// `key = 123`.
fn integer<N>(meta: &ParseNestedMeta<'_>) -> syn::Result<(N, Span)>
where
    N: std::str::FromStr,
    N::Err: std::fmt::Display,
{
    match literal(meta, "an integer")? {
        Lit::Int(i) => Ok((i.base10_parse::<N>()?, i.span())),
        other => Err(wrong(meta, &other, "an integer")),
    }
}

/// `key = 2.0` (an integer is accepted too).
fn factor(meta: &ParseNestedMeta<'_>) -> syn::Result<f32> {
    let (value, span) = match literal(meta, "a number")? {
        Lit::Float(f) => (f.base10_parse::<f32>()?, f.span()),
        Lit::Int(i) => (i.base10_parse::<f32>()?, i.span()),
        other => return Err(wrong(meta, &other, "a number")),
    };
    if !value.is_finite() || value < 1.0 {
        return Err(syn::Error::new(span, "`backoff_factor` must be a finite number of at least 1.0"));
    }
    Ok(value)
}

/// `key = true`, or the bare key for `true`.
fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.is_empty() || meta.input.peek(syn::Token![,]) {
        return Ok(true);
    }
    match literal(meta, "a boolean")? {
        Lit::Bool(b) => Ok(b.value),
        other => Err(wrong(meta, &other, "a boolean")),
    }
}

/// A literal of the wrong kind.
fn wrong(meta: &ParseNestedMeta<'_>, lit: &Lit, expected: &str) -> syn::Error {
    syn::Error::new(lit.span(), format_args!("`{}` takes {expected}", path_text(&meta.path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> syn::Result<TaskArgs> {
        TaskArgs::parse(tokens)
    }

    fn message(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(args) => panic!("expected an error, got {args:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_attribute_gives_the_defaults() -> syn::Result<()> {
        let args = parse(TokenStream::new())?;
        assert!(args.elf.is_none());
        assert_eq!(args.retry, Retry::default());
        assert_eq!(args.retry.max_attempts, 1);
        assert_eq!(args.retry.max_delay_ms, 60_000);
        assert_eq!(args.timeout_ms, None);
        Ok(())
    }

    #[test]
    fn every_option_is_read() -> syn::Result<()> {
        let args = parse(quote!(
            elf = "x",
            retries = 3,
            backoff_ms = 100,
            backoff_factor = 2.5,
            max_delay_ms = 5000,
            jitter = true,
            timeout_ms = 2000,
        ))?;
        assert_eq!(args.elf.map(|e| e.value()).as_deref(), Some("x"));
        assert_eq!(args.retry, Retry { max_attempts: 3, delay_ms: 100, factor: 2.5, max_delay_ms: 5000, jitter: true });
        assert_eq!(args.timeout_ms, Some(2000));
        Ok(())
    }

    #[test]
    fn bare_jitter_and_integer_factor_are_accepted() -> syn::Result<()> {
        let args = parse(quote!(jitter, backoff_factor = 2))?;
        assert!(args.retry.jitter);
        assert_eq!(args.retry.factor, 2.0);
        assert!(!parse(quote!(jitter = false))?.retry.jitter);
        Ok(())
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let m = message(quote!(elf = "x", retry = 3));
        assert!(m.starts_with("unknown `#[task]` option `retry`"), "{m}");
        assert!(m.contains("retries"), "{m}");
    }

    #[test]
    fn wrong_literal_types_are_rejected() {
        assert_eq!(message(quote!(elf = 3)), "`elf` takes a string");
        assert_eq!(message(quote!(retries = "3")), "`retries` takes an integer");
        assert_eq!(message(quote!(backoff_factor = true)), "`backoff_factor` takes a number");
        assert_eq!(message(quote!(jitter = 1)), "`jitter` takes a boolean");
        assert_eq!(message(quote!(timeout_ms = 1.5)), "`timeout_ms` takes an integer");
        assert_eq!(message(quote!(elf = some::CONST)), "`elf` takes a string literal");
        assert_eq!(message(quote!(elf)), "`elf` needs a value: `elf = a string`");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(message(quote!(retries = 0)).contains("at least 1"));
        assert_eq!(message(quote!(retries = -1)), "`retries` takes an integer literal");
        assert!(message(quote!(retries = 5000000000)).contains("number too large"));
        assert!(message(quote!(backoff_factor = 0.5)).contains("at least 1.0"));
        assert!(message(quote!(timeout_ms = 0)).contains("positive"));
        assert!(message(quote!(elf = "")).contains("empty"));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert_eq!(message(quote!(retries = 2, retries = 3)), "`retries` is given twice");
    }
}
