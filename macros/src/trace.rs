//! Error sites: the body of a fallible task, rewritten so that an `Err`
//! leaving it records where in the task it arose.
//!
//! A backtrace taken after the function returned `Err` holds no frame of the
//! function itself, so the places where an `Err` can leave the body record
//! their own location (`file!()`, `line!()`, `column!()` spanned at the
//! token) in a thread-local before it leaves; the generated `invoke` takes it
//! and the elf shows it as the innermost frame of the task. The places:
//!
//! * every `expr?` (the location of the `?`);
//! * every `return expr` (the location of `return`);
//! * the body's tail expression, looking through `if`, `match` and blocks to
//!   the branch that gives the value;
//! * `bail!(..)` (anyhow's and its look-alikes, which always return `Err`).
//!
//! Closures, `async` blocks, `const` and `try` blocks and nested items are
//! left alone: their `?` and `return` leave something else. A recorded `Ok` records
//! nothing, and the rewrite keeps every expression's type, so the function
//! means exactly what it says.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprMacro, Item, ItemFn, Macro, Stmt};

/// Rewrites `func`'s body (`name` is the task's name as its path ends).
pub(crate) fn trace(func: &mut ItemFn, name: &str) {
    let mut sites = Sites { name };
    sites.visit_block_mut(&mut func.block);
    tail_of_block(&mut func.block, name);
}

/// The `ErrorSite` of the token at `span`.
fn site(span: Span, name: &str) -> TokenStream {
    quote_spanned! {span=>
        ::mycelium::__private::ErrorSite {
            function: ::core::concat!(::core::module_path!(), "::", #name),
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    }
}

/// `expr`, recording `span` when it is an `Err`.
fn traced(expr: &Expr, span: Span, name: &str) -> Expr {
    let site = site(span, name);
    syn::parse_quote_spanned!(span=> ::mycelium::__private::traced(#expr, #site))
}

/// `mac`, recording its location first (for macros that always return `Err`).
fn recorded(mac: &Macro, name: &str) -> Expr {
    let span = mac.path.segments.last().map_or_else(|| mac.span(), |s| s.ident.span());
    let site = site(span, name);
    syn::parse_quote_spanned!(span=> { ::mycelium::__private::record(#site); #mac })
}

/// Whether `mac` is `bail!` (anyhow's, eyre's: `return Err(..)` always).
fn is_bail(mac: &Macro) -> bool {
    mac.path.segments.last().is_some_and(|s| s.ident == "bail")
}

/// The visitor rewriting `?`, `return` and `bail!`.
struct Sites<'a> {
    name: &'a str,
}

impl VisitMut for Sites<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        // These leave something else than the task (`try` blocks are
        // unstable, but their `?` would leave them, not the task).
        if matches!(expr, Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) | Expr::TryBlock(_)) {
            return;
        }
        visit_mut::visit_expr_mut(self, expr);
        match expr {
            Expr::Try(t) => {
                let span = t.question_token.span;
                *t.expr = traced(&t.expr, span, self.name);
            }
            Expr::Return(r) => {
                let span = r.return_token.span;
                if let Some(value) = &mut r.expr {
                    **value = traced(value, span, self.name);
                }
            }
            Expr::Macro(ExprMacro { mac, .. }) if is_bail(mac) => {
                *expr = recorded(mac, self.name);
            }
            _ => {}
        }
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        if let Stmt::Macro(m) = stmt
            && is_bail(&m.mac)
        {
            let block = recorded(&m.mac, self.name);
            let semi = m.semi_token.unwrap_or_default();
            *stmt = Stmt::Expr(block, Some(semi));
            return;
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_item_mut(&mut self, _: &mut Item) {
        // A nested item's `?` and `return` are its own.
    }
}

/// Records the site of the value a block gives, when it is an `Err`.
fn tail_of_block(block: &mut Block, name: &str) {
    if let Some(Stmt::Expr(expr, None)) = block.stmts.last_mut() {
        tail(expr, name);
    }
}

/// Records the site of the value `expr` gives, looking through `if`, `match`
/// and blocks to the branch that gives it.
fn tail(expr: &mut Expr, name: &str) {
    match expr {
        Expr::If(e) => {
            tail_of_block(&mut e.then_branch, name);
            if let Some((_, other)) = &mut e.else_branch {
                tail(other, name);
            }
        }
        Expr::Match(e) => {
            for arm in &mut e.arms {
                tail(&mut arm.body, name);
            }
        }
        Expr::Block(e) if e.label.is_none() => tail_of_block(&mut e.block, name),
        Expr::Unsafe(e) => tail_of_block(&mut e.block, name),
        Expr::Paren(e) => tail(&mut e.expr, name),
        // These never give a value here: `return` records its own site, a
        // macro may diverge (`panic!`, `bail!`), a loop ends with `break`.
        Expr::Return(_) | Expr::Macro(_) | Expr::Loop(_) | Expr::Break(_) | Expr::Continue(_) => {}
        other => {
            let span = first_span(other);
            *other = traced(other, span, name);
        }
    }
}

/// The span of `expr`'s first token (where its line starts).
fn first_span(expr: &Expr) -> Span {
    quote!(#expr).into_iter().next().map_or_else(|| expr.span(), |t| t.span())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(item: TokenStream) -> String {
        let mut func: ItemFn = match syn::parse2(item) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        trace(&mut func, "t");
        quote!(#func).to_string()
    }

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn question_marks_returns_and_tails_are_traced() {
        let out = rewritten(quote!(
            fn t(p: String) -> Result<u32, E> {
                let a = read(&p)?;
                if a.is_empty() {
                    return Err(E::Empty);
                }
                a.parse::<u32>().map_err(E::from)
            }
        ));
        assert!(out.contains("let a = :: mycelium :: __private :: traced (read (& p) ,"), "{out}");
        assert!(out.contains("return :: mycelium :: __private :: traced (Err (E :: Empty) ,"), "{out}");
        assert!(out.contains(":: mycelium :: __private :: traced (a . parse :: < u32 > () . map_err (E :: from) ,"));
        assert_eq!(count(&out, "__private :: traced"), 3, "{out}");
        assert_eq!(count(&out, "concat ! (:: core :: module_path ! () , \"::\" , \"t\")"), 3, "{out}");
    }

    #[test]
    fn tails_are_traced_through_branches() {
        let out = rewritten(quote!(
            fn t(n: u32) -> Result<u32, E> {
                match n {
                    0 => Err(E::Zero),
                    1 => {
                        if n > 0 {
                            Ok(1)
                        } else {
                            Err(E::Odd)
                        }
                    }
                    _ => unreachable!(),
                }
            }
        ));
        assert!(out.contains("0 => :: mycelium :: __private :: traced (Err (E :: Zero) ,"), "{out}");
        assert!(out.contains("{ :: mycelium :: __private :: traced (Ok (1) ,"), "{out}");
        assert!(out.contains("else { :: mycelium :: __private :: traced (Err (E :: Odd) ,"), "{out}");
        assert!(out.contains("_ => unreachable ! ()"), "{out}");
    }

    #[test]
    fn closures_async_blocks_and_items_are_left_alone() {
        let out = rewritten(quote!(
            async fn t() -> Result<(), E> {
                let f = |x: Option<u32>| -> Option<u32> { Some(x? + 1) };
                let g = async {
                    step().await?;
                    Ok::<_, E>(())
                };
                fn inner() -> Result<(), E> {
                    step()?;
                    Ok(())
                }
                g.await?;
                Ok(())
            }
        ));
        assert!(out.contains("Some (x ? + 1)"), "{out}");
        assert!(out.contains("step () . await ? ;"), "{out}");
        assert!(out.contains("fn inner () -> Result < () , E > { step () ? ; Ok (()) }"), "{out}");
        // `g.await?` and the tail only.
        assert_eq!(count(&out, "__private :: traced"), 2, "{out}");
    }

    #[test]
    fn bail_records_its_site_before_returning() {
        let out = rewritten(quote!(
            fn t(n: u32) -> anyhow::Result<u32> {
                if n == 0 {
                    anyhow::bail!("zero");
                }
                let m = match n {
                    1 => bail!("one"),
                    m => m,
                };
                Ok(m)
            }
        ));
        assert_eq!(count(&out, "__private :: record"), 2, "{out}");
        assert!(out.contains("{ :: mycelium :: __private :: record ("), "{out}");
        assert!(out.contains("anyhow :: bail ! (\"zero\") } ;"), "{out}");
    }

    #[test]
    fn nested_question_marks_are_each_traced() {
        let out = rewritten(quote!(
            fn t() -> Result<u32, E> {
                Ok(f(g()?)?)
            }
        ));
        assert_eq!(count(&out, "__private :: traced"), 3, "{out}");
    }
}
