//! The expansion of `#[flow]`: the function as written, and beside it a
//! module of the same name with the flow's `INFO`, `FLOW` and `call`.
//!
//! A flow is an `async fn` whose first parameter is its context
//! (`cx: &mut Flow`); the other parameters are its arguments, with the same
//! rules as a task's.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitFloat, LitStr, Pat, Type};

use crate::args::TaskArgs;
use crate::expand::doc_text;
use crate::signature::{self, TaskFn};
use crate::source;
use crate::types::{rebase, type_text};

/// Expands `#[flow(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let call_site = Span::call_site();
    let args = TaskArgs::parse(attr);
    let flow = parse(item.clone());
    let (args, flow) = match (args, flow) {
        (Ok(args), Ok(flow)) => (args, flow),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let source = source::capture(&item, call_site);
    let module = module(&args, &flow, &source, call_site);
    // A fallible flow records where an `Err` leaves its body, as a task does.
    let function = if flow.output.fallible {
        let mut func = flow.func.clone();
        let name = crate::signature::name(&func.sig.ident);
        crate::trace::trace(&mut func, &name);
        quote!(#func)
    } else {
        item
    };
    Ok(quote! {
        #function
        #module
    })
}

/// Checks the flow's own rules (async, context first), then the task rules
/// on the other parameters.
fn parse(item: TokenStream) -> syn::Result<TaskFn> {
    let func: ItemFn = match syn::parse2::<syn::Item>(item.clone())? {
        syn::Item::Fn(f) => f,
        other => return Err(syn::Error::new_spanned(other, "`#[flow]` applies to free `async fn`s only")),
    };
    if func.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            func.sig.fn_token.span,
            "a flow must be an `async fn`: it awaits its commands (`cx.call(..).await`)",
        ));
    }
    const CONTEXT: &str = "a flow's first parameter must be its context: `cx: &mut Flow`";
    let Some(first) = func.sig.inputs.first() else {
        return Err(syn::Error::new(func.sig.paren_token.span.join(), CONTEXT));
    };
    let is_context = match first {
        FnArg::Typed(t) => {
            matches!(&*t.pat, Pat::Ident(_))
                && matches!(&*t.ty, Type::Reference(r) if r.mutability.is_some() && matches!(&*r.elem, Type::Path(p)
                    if p.path.segments.last().is_some_and(|s| s.ident == "Flow")))
        }
        FnArg::Receiver(_) => false,
    };
    if !is_context {
        return Err(syn::Error::new_spanned(first, CONTEXT));
    }
    // The task rules for the rest, with the flow's own wording.
    let mut rest = func.clone();
    rest.sig.inputs = func.sig.inputs.iter().skip(1).cloned().collect();
    let mut parsed = signature::parse(quote!(#rest)).map_err(|e| {
        let mut errors = e.into_iter().map(|e| {
            syn::Error::new(
                e.span(),
                e.to_string().replace("a task", "a flow").replace(" (only its first may be `cx: &Context`)", ""),
            )
        });
        let mut first = errors.next().unwrap_or_else(|| syn::Error::new(Span::call_site(), "invalid flow"));
        for e in errors {
            first.combine(e);
        }
        first
    })?;
    parsed.func = func;
    Ok(parsed)
}

/// The generated module.
fn module(args: &TaskArgs, flow: &TaskFn, source: &source::Source, call_site: Span) -> TokenStream {
    let p = quote!(::mycelium::__private);
    let func = &flow.func;
    let vis = &func.vis;
    let ident = &func.sig.ident;
    let name = signature::name(ident);
    let fallible = flow.output.fallible;
    let module_doc = format!("Typed stub and registration of the flow [`{ident}()`].");
    let elf = match &args.elf {
        Some(lit) => quote!(#lit),
        None => quote_spanned!(call_site=> super::ELF),
    };
    let source_text = LitStr::new(&source.text, call_site);
    let line = match source.line {
        Some(line) => quote!(#line),
        None => quote!(::core::line!()),
    };
    let doc = doc_text(&func.attrs);
    let param_entries = flow.params.iter().map(|p| {
        let (n, t) = (signature::name(&p.ident), type_text(&p.ty));
        quote!((#n, #t))
    });
    let output_text = type_text(&flow.output.ty);
    let retry = &args.retry;
    let (max_attempts, delay_ms, max_delay_ms, jitter) =
        (retry.max_attempts, retry.delay_ms, retry.max_delay_ms, retry.jitter);
    let factor = LitFloat::new(&format!("{:?}", retry.factor), call_site);
    let timeout = match args.timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };
    let names: Vec<_> = flow.params.iter().map(|p| &p.ident).collect();
    let types: Vec<_> = flow.params.iter().map(|p| rebase(&p.ty)).collect();
    let output_ty = rebase(&flow.output.ty);
    let params_span = func.sig.paren_token.span.join();
    let decode_args = quote_spanned!(params_span=> ::mycelium::__private::decode_args(&INFO, args));
    let decode = if names.is_empty() {
        quote!(let []: [(); 0] = #decode_args?;)
    } else {
        quote!(let (#(#names,)*): (#(#types,)*) = #decode_args?;)
    };
    let output_span = match &func.sig.output {
        syn::ReturnType::Default => call_site,
        syn::ReturnType::Type(..) => flow.output.ty.span(),
    };
    let value = syn::Ident::new("value", output_span);
    let encode_value = quote_spanned!(output_span=> ::mycelium::__private::encode_output(#value));
    let run = quote!(super::#ident(&mut cx, #(#names),*).await);
    let encode = if fallible {
        quote! {
            #p::clear_error_site();
            match #run {
                ::core::result::Result::Ok(#value) => #encode_value,
                ::core::result::Result::Err(error) => ::core::result::Result::Err(#p::task_failed(error, &INFO)),
            }
        }
    } else {
        quote! {
            let #value = #run;
            #encode_value
        }
    };
    let stub_args = if names.is_empty() {
        quote!(::std::vec::Vec::new())
    } else {
        quote!(::std::vec![#(#p::erase(#p::IntoArg::<#types>::into_arg(#names))),*])
    };
    quote! {
        #[doc = #module_doc]
        #[allow(dead_code, unreachable_pub)]
        #vis mod #ident {
            #[allow(unused_imports)]
            use super::*;

            /// What the flow is.
            pub static INFO: #p::TaskInfo = #p::TaskInfo {
                elf: #elf,
                name: #name,
                // Inside this module of the function's name: the function's path.
                path: ::core::module_path!(),
                source: #source_text,
                file: ::core::file!(),
                line: #line,
                doc: #doc,
                params: &[#(#param_entries),*],
                output: #output_text,
                is_async: true,
                fallible: #fallible,
                retry: #p::RetryDefaults {
                    max_attempts: #max_attempts,
                    delay_ms: #delay_ms,
                    factor: #factor,
                    max_delay_ms: #max_delay_ms,
                    jitter: #jitter,
                },
                timeout_ms: #timeout,
            };

            /// What an elf serves.
            pub static FLOW: #p::FlowDefinition = #p::FlowDefinition { info: &INFO, body: invoke };

            fn invoke(cx: #p::Flow, args: #p::Value) -> #p::FlowFuture {
                ::std::boxed::Box::pin(async move {
                    let mut cx = cx;
                    #decode
                    #encode
                })
            }

            /// Records a call of the flow (in an orchestration, or from another flow).
            #[allow(clippy::too_many_arguments)]
            pub fn call(#(#names: impl #p::IntoArg<#types>),*) -> #p::Call<#output_ty> {
                #p::call(&INFO, #stub_args)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(item: TokenStream) -> String {
        match expand(TokenStream::new(), item) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_flow_expands_to_its_module() {
        let out = match expand(
            quote!(elf = "etl"),
            quote!(
                pub async fn nightly(cx: &mut Flow, day: String) -> Result<u64, FlowError> {
                    Ok(1)
                }
            ),
        ) {
            Ok(t) => t.to_string(),
            Err(e) => panic!("{e}"),
        };
        for part in [
            "pub mod nightly",
            "name : \"nightly\"",
            "params : & [(\"day\" , \"String\")]",
            "output : \"u64\"",
            "FlowDefinition { info : & INFO , body : invoke }",
            "super :: nightly (& mut cx , day) . await",
            "pub fn call (day : impl :: mycelium :: __private :: IntoArg < String >)",
        ] {
            assert!(out.contains(part), "{part} not in {out}");
        }
    }

    #[test]
    fn flows_have_their_own_rules() {
        assert!(
            error(quote!(
                fn f(cx: &mut Flow) {}
            ))
            .contains("must be an `async fn`")
        );
        assert!(
            error(quote!(
                async fn f(day: String) {}
            ))
            .contains("first parameter must be its context")
        );
        assert!(
            error(quote!(
                async fn f() {}
            ))
            .contains("first parameter must be its context")
        );
        assert!(
            error(quote!(
                async fn f(cx: &Flow) {}
            ))
            .contains("first parameter must be its context")
        );
        assert!(
            error(quote!(
                async fn f(cx: &mut Flow, s: &str) {}
            ))
            .contains("a flow's parameters must be owned types")
        );
        assert!(
            error(quote!(
                async fn f<T>(cx: &mut Flow, t: T) {}
            ))
            .contains("a flow cannot be generic")
        );
    }
}
