//! The expansion of `#[task]`: the function as written, and beside it a
//! module of the same name with the task's `INFO`, `TASK` and `call`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitFloat, LitStr, Meta};

use crate::args::TaskArgs;
use crate::signature::{self, TaskFn};
use crate::source;
use crate::trace;
use crate::types::{rebase, type_text};

/// Expands `#[task(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let call_site = Span::call_site();
    let args = TaskArgs::parse(attr);
    let task = signature::parse(item.clone());
    let (args, task) = match (args, task) {
        (Ok(args), Ok(task)) => (args, task),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    args.agent.check(&task)?;
    let source = source::capture(&item, call_site);
    let module = module(&args, &task, &source, call_site);
    // A fallible task records where an `Err` leaves its body (see `trace`);
    // the others are kept token for token.
    let function = if task.output.fallible {
        let mut func = task.func.clone();
        let name = signature::name(&func.sig.ident);
        trace::trace(&mut func, &name);
        quote!(#func)
    } else {
        item
    };
    Ok(quote! {
        #function
        #module
    })
}

/// What a task without `elf = ".."` and without an `ELF` const in scope is told.
const NO_ELF: &str = "`#[task]` cannot tell which elf serves this task: add \
    `pub const ELF: &str = \"<elf name>\";` to the module that holds it, or name the elf \
    in the attribute: `#[task(elf = \"<elf name>\")]`";

/// The generated module.
fn module(args: &TaskArgs, task: &TaskFn, source: &source::Source, call_site: Span) -> TokenStream {
    let p = quote!(::mycelium::__private);
    let func = &task.func;
    let vis = &func.vis;
    let ident = &func.sig.ident;
    let name = signature::name(ident);
    let is_async = func.sig.asyncness.is_some();
    let fallible = task.output.fallible;

    let module_doc = format!("Typed stub and registration of the task [`{ident}()`].");
    let elf = match &args.elf {
        Some(lit) => quote!(#lit),
        // The enclosing module's `ELF`, found through `use super::*` in an
        // inner block, shadows the stand-in of the outer block; the stand-in
        // (left when there is no `ELF`) fails with a message saying what to add.
        None => quote_spanned! {call_site=> {
            const NAME: &::core::primitive::str = {
                #[allow(unused_imports)]
                use #p::no_elf::*;
                {
                    #[allow(unused_imports)]
                    use super::*;
                    ELF
                }
            };
            if #p::no_elf::is_missing(NAME) {
                ::core::panic!(#NO_ELF)
            }
            NAME
        }},
    };
    let source_text = LitStr::new(&source.text, call_site);
    let line = match source.line {
        Some(line) => quote!(#line),
        None => quote!(::core::line!()),
    };
    let doc = doc_text(&func.attrs);
    let param_entries = task.params.iter().map(|p| {
        let (n, t) = (signature::name(&p.ident), type_text(&p.ty));
        quote!((#n, #t))
    });
    let output_text = type_text(&task.output.ty);
    let retry = &args.retry;
    let (max_attempts, delay_ms, max_delay_ms, jitter) =
        (retry.max_attempts, retry.delay_ms, retry.max_delay_ms, retry.jitter);
    let factor = LitFloat::new(&format!("{:?}", retry.factor), call_site);
    let timeout = match args.timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };

    let names: Vec<_> = task.params.iter().map(|p| &p.ident).collect();
    let types: Vec<_> = task.params.iter().map(|p| rebase(&p.ty)).collect();
    let output_ty = rebase(&task.output.ty);

    // Unsatisfied `Deserialize` / `Serialize` bounds point at the
    // parameters and at the value type.
    let params_span = func.sig.paren_token.span.join();
    let decode_args = quote_spanned!(params_span=> ::mycelium::__private::decode_args(&INFO, args));
    let decode = if names.is_empty() {
        quote!(let []: [(); 0] = #decode_args?;)
    } else {
        quote!(let (#(#names,)*): (#(#types,)*) = #decode_args?;)
    };
    let output_span = match &func.sig.output {
        syn::ReturnType::Default => call_site,
        syn::ReturnType::Type(..) => task.output.ty.span(),
    };
    let value = syn::Ident::new("value", output_span);
    let encode_value = quote_spanned!(output_span=> ::mycelium::__private::encode_output(#value));
    let await_ = is_async.then(|| quote!(.await));
    // The context an elf gives a task that takes one comes from the runtime
    // (a task-local), not from the job's arguments.
    let (context, context_arg) = match &task.context {
        Some(_) => (quote!(let context = #p::context();), quote!(&context,)),
        None => (TokenStream::new(), TokenStream::new()),
    };
    let run = quote!(super::#ident(#context_arg #(#names),*) #await_);
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
    let result = quote!(::core::result::Result<#p::Value, #p::TaskError>);
    let (body, invoke) = if is_async {
        let inner = format_ident!("run");
        (
            quote!(#p::Body::Async(invoke)),
            quote! {
                fn invoke(args: #p::Value) -> #p::TaskFuture {
                    ::std::boxed::Box::pin(#inner(args))
                }
                async fn #inner(args: #p::Value) -> #result {
                    #context
                    #decode
                    #encode
                }
            },
        )
    } else {
        (
            quote!(#p::Body::Sync(invoke)),
            quote! {
                fn invoke(args: #p::Value) -> #result {
                    #context
                    #decode
                    #encode
                }
            },
        )
    };
    let (role, agent_items) = args.agent.expand(task, &p);
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

            /// What the task is.
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
                is_async: #is_async,
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
            pub static TASK: #p::Task = #p::Task { info: &INFO, body: #body, role: #role };

            #agent_items

            #invoke

            /// Records a call of the task in an orchestration (see `mycelium::Call`).
            #[allow(clippy::too_many_arguments)]
            pub fn call(#(#names: impl #p::IntoArg<#types>),*) -> #p::Call<#output_ty> {
                #p::call(&INFO, #stub_args)
            }
        }
    }
}

/// The doc comment: one line per `///` line, a leading space removed.
pub(crate) fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) = &nv.value
        {
            for line in s.value().split('\n') {
                lines.push(line.strip_prefix(' ').unwrap_or(line).to_owned());
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(attr: TokenStream, item: TokenStream) -> String {
        match expand(attr, item) {
            Ok(tokens) => tokens.to_string(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn doc_lines_are_joined() -> syn::Result<()> {
        let func: syn::ItemFn = syn::parse_quote! {
            /// First line.
            ///
            ///   Indented.
            #[doc = "raw"]
            #[inline]
            fn f() {}
        };
        assert_eq!(doc_text(&func.attrs), "First line.\n\n  Indented.\nraw");
        Ok(())
    }

    #[test]
    fn a_sync_task_expands_to_its_module() {
        let out = expanded(
            quote!(elf = "animals"),
            quote!(
                pub fn draw(seed: u64) -> Animal {
                    Animal
                }
            ),
        );
        assert!(out.starts_with("pub fn draw (seed : u64) -> Animal { Animal }"), "{out}");
        for part in [
            "pub mod draw",
            "elf : \"animals\"",
            "name : \"draw\"",
            "params : & [(\"seed\" , \"u64\")]",
            "output : \"Animal\"",
            "is_async : false",
            "fallible : false",
            "factor : 1.0",
            "Body :: Sync (invoke)",
            "let (seed ,) : (u64 ,) = :: mycelium :: __private :: decode_args (& INFO , args) ?",
            "let value = super :: draw (seed) ; :: mycelium :: __private :: encode_output (value)",
            "pub fn call (seed : impl :: mycelium :: __private :: IntoArg < u64 >) -> :: mycelium :: __private :: Call < Animal >",
        ] {
            assert!(out.contains(part), "{part} not in {out}");
        }
    }

    #[test]
    fn an_async_fallible_task_without_elf_reads_the_module_const() {
        let out = expanded(
            TokenStream::new(),
            quote!(
                async fn weigh(a: self::Animal, factor: f64) -> Result<f64, MyError> {
                    Ok(factor)
                }
            ),
        );
        for part in [
            "mod weigh",
            "use super :: * ; ELF",
            "if :: mycelium :: __private :: no_elf :: is_missing (NAME)",
            "params : & [(\"a\" , \"self::Animal\") , (\"factor\" , \"f64\")]",
            "output : \"f64\"",
            "is_async : true",
            "fallible : true",
            "Body :: Async (invoke)",
            "(super :: Animal , f64 ,)",
            "match super :: weigh (a , factor) . await",
            "task_failed (error , & INFO)",
            // The function itself records where an `Err` leaves it.
            "async fn weigh (a : self :: Animal , factor : f64) -> Result < f64 , MyError > { :: mycelium :: __private :: traced (Ok (factor) ,",
        ] {
            assert!(out.contains(part), "{part} not in {out}");
        }
    }

    #[test]
    fn errors_of_the_attribute_and_the_item_are_combined() {
        let Err(e) = expand(
            quote!(nope = 1),
            quote!(
                fn f<T>() {}
            ),
        ) else {
            panic!("expected errors")
        };
        assert_eq!(e.into_iter().count(), 2);
    }
}
