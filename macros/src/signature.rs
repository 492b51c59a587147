//! Which functions can be tasks, and what their signatures say.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::visit::Visit;
use syn::{FnArg, GenericArgument, Ident, Item, ItemFn, Pat, PathArguments, ReturnType, Type};

/// One parameter of a task.
pub(crate) struct Param {
    /// Its name.
    pub(crate) ident: Ident,
    /// Its type, as written.
    pub(crate) ty: Type,
}

/// What a task returns.
pub(crate) struct Output {
    /// The value's type: `T` of `T` or `Result<T, E>` (`()` when nothing is
    /// returned).
    pub(crate) ty: Type,
    /// Whether the function returns a `Result`.
    pub(crate) fallible: bool,
}

/// A function checked to be usable as a task.
pub(crate) struct TaskFn {
    /// The function as parsed.
    pub(crate) func: ItemFn,
    /// Its context parameter (`cx: &Context`, first), when it takes one.
    pub(crate) context: Option<Ident>,
    /// Its parameters (the context excepted): the task's arguments.
    pub(crate) params: Vec<Param>,
    /// Its value.
    pub(crate) output: Output,
}

/// Parses the item under `#[task]` and checks that it is a free function
/// with owned, named parameters and no generics.
pub(crate) fn parse(item: TokenStream) -> syn::Result<TaskFn> {
    let func = match syn::parse2::<Item>(item)? {
        Item::Fn(func) => func,
        other => return Err(not_a_function(&other)),
    };
    let sig = &func.sig;
    if let Some(token) = &sig.constness {
        return Err(syn::Error::new(token.span, "a task cannot be a `const fn`"));
    }
    if let Some(token) = &sig.unsafety {
        return Err(syn::Error::new(token.span, "a task cannot be an `unsafe fn`"));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(abi, "a task cannot have an `extern` ABI"));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics.params,
            "a task cannot be generic: its arguments are decoded from JSON into concrete types",
        ));
    }
    if let Some(clause) = &sig.generics.where_clause {
        return Err(syn::Error::new_spanned(clause, "a task cannot have a `where` clause"));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(variadic, "a task cannot be variadic"));
    }
    let mut params = Vec::new();
    let mut context = None;
    for (i, input) in sig.inputs.iter().enumerate() {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new(
                    receiver.self_token.span,
                    "a task must be a free function: it cannot take `self`",
                ));
            }
            FnArg::Typed(typed) => typed,
        };
        let ident = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "a task's parameters must be plain names (they name its arguments)",
                ));
            }
        };
        if is_context(&typed.ty) {
            if i != 0 {
                return Err(syn::Error::new_spanned(
                    &typed.ty,
                    "a task's context must be its first parameter: `cx: &Context`",
                ));
            }
            context = Some(ident);
            continue;
        }
        let mut check = Check { error: None, output: false };
        check.visit_type(&typed.ty);
        if let Some(error) = check.error {
            return Err(error);
        }
        params.push(Param { ident, ty: (*typed.ty).clone() });
    }
    let output = output(&sig.output)?;
    Ok(TaskFn { func, context, params, output })
}

/// Whether `ty` is `&Context` (any path ending in `Context`, shared): the
/// context an elf gives the task, not an argument.
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
            Type::Path(p) if p.qself.is_none() => {
                p.path.segments.last().is_some_and(|s| s.ident == "Context" && s.arguments.is_none())
            }
            _ => false,
        },
        _ => false,
    }
}

/// The function's name, without `r#`.
pub(crate) fn name(ident: &Ident) -> String {
    ident.unraw().to_string()
}

fn not_a_function(item: &Item) -> syn::Error {
    const MESSAGE: &str = "`#[task]` applies to free functions only";
    let span = match item {
        Item::Struct(i) => i.struct_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::Union(i) => i.union_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Mod(i) => i.mod_token.span,
        Item::Const(i) => i.const_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Use(i) => i.use_token.span,
        other => return syn::Error::new_spanned(other, MESSAGE),
    };
    syn::Error::new(span, MESSAGE)
}

fn output(ret: &ReturnType) -> syn::Result<Output> {
    let ty = match ret {
        ReturnType::Default => return Ok(Output { ty: syn::parse_quote!(()), fallible: false }),
        ReturnType::Type(_, ty) => ty,
    };
    let mut check = Check { error: None, output: true };
    check.visit_type(ty);
    if let Some(error) = check.error {
        return Err(error);
    }
    let last = match &**ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    };
    match last {
        Some(segment) if segment.ident == "Result" => {
            let value = match &segment.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                    GenericArgument::Type(t) => Some(t.clone()),
                    _ => None,
                }),
                _ => None,
            };
            match value {
                Some(ty) => Ok(Output { ty, fallible: true }),
                None => Err(syn::Error::new_spanned(
                    segment,
                    "cannot see the value type of this `Result`: write it as `Result<T, E>`",
                )),
            }
        }
        _ => Ok(Output { ty: (**ty).clone(), fallible: false }),
    }
}

/// Finds what a parameter (or return) type may not contain.
struct Check {
    error: Option<syn::Error>,
    /// Checking the return type (references allowed).
    output: bool,
}

impl Check {
    fn fail(&mut self, tokens: impl ToTokens, message: &str) {
        if self.error.is_none() {
            self.error = Some(syn::Error::new_spanned(tokens, message));
        }
    }
}

impl<'ast> Visit<'ast> for Check {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        if !self.output {
            self.fail(
                r.and_token,
                "a task's parameters must be owned types (its arguments are decoded from JSON): \
                 use `String` for `&str`, `Vec<T>` for `&[T]` (only its first may be `cx: &Context`)",
            );
        }
        syn::visit::visit_type_reference(self, r);
    }

    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        let message = if self.output {
            "a task must name its value's type: `impl Trait` cannot be decoded"
        } else {
            "a task's parameters must have concrete types: `impl Trait` cannot be decoded"
        };
        self.fail(t.impl_token, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::type_text;
    use quote::quote;

    fn error(item: TokenStream) -> String {
        match parse(item) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn plain_functions_are_read() -> syn::Result<()> {
        let task = parse(quote!(
            /// Doc.
            pub async fn weigh(a: Animal, mut factor: f64, r#type: Vec<self::Kind>) -> Result<f64, MyError> {}
        ))?;
        let params: Vec<_> = task.params.iter().map(|p| (name(&p.ident), type_text(&p.ty))).collect();
        assert_eq!(
            params,
            [("a".into(), "Animal".into()), ("factor".into(), "f64".into()), ("type".into(), "Vec<self::Kind>".into())]
        );
        assert_eq!(type_text(&task.output.ty), "f64");
        assert!(task.output.fallible);

        let task = parse(quote!(
            fn unit() {}
        ))?;
        assert!(task.params.is_empty());
        assert_eq!(type_text(&task.output.ty), "()");
        assert!(!task.output.fallible);

        let task = parse(quote!(
            fn f() -> anyhow::Result<Vec<u8>> {}
        ))?;
        assert_eq!(type_text(&task.output.ty), "Vec<u8>");
        assert!(task.output.fallible);

        let task = parse(quote!(
            fn f() -> &'static str {}
        ))?;
        assert_eq!(type_text(&task.output.ty), "&'static str");
        Ok(())
    }

    #[test]
    fn a_context_comes_first_and_is_no_argument() -> syn::Result<()> {
        let task = parse(quote!(
            async fn f(cx: &mycelium::agent::Context, n: u32) {}
        ))?;
        assert_eq!(task.context.map(|c| c.to_string()).as_deref(), Some("cx"));
        assert_eq!(task.params.len(), 1);
        assert!(
            error(quote!(
                fn f(n: u32, cx: &Context) {}
            ))
            .contains("first parameter")
        );
        assert!(
            error(quote!(
                fn f(cx: &mut Context) {}
            ))
            .contains("owned types")
        );
        Ok(())
    }

    #[test]
    fn unsupported_signatures_are_rejected() {
        for (item, expected) in [
            (
                quote!(
                    fn f<T>(t: T) {}
                ),
                "cannot be generic",
            ),
            (
                quote!(
                    fn f<'a>(t: Cow<'a, str>) {}
                ),
                "cannot be generic",
            ),
            (
                quote!(
                    fn f(t: u32)
                    where
                        u32: Copy,
                    {
                    }
                ),
                "`where` clause",
            ),
            (
                quote!(
                    fn f(&self) {}
                ),
                "cannot take `self`",
            ),
            (
                quote!(
                    fn f(self: Box<Self>) {}
                ),
                "cannot take `self`",
            ),
            (
                quote!(
                    fn f((a, b): (u32, u32)) {}
                ),
                "plain names",
            ),
            (
                quote!(
                    fn f(_: u32) {}
                ),
                "plain names",
            ),
            (
                quote!(
                    fn f(ref a: u32) {}
                ),
                "plain names",
            ),
            (
                quote!(
                    fn f(s: &str) {}
                ),
                "owned types",
            ),
            (
                quote!(
                    fn f(s: Vec<&'static [u8]>) {}
                ),
                "owned types",
            ),
            (
                quote!(
                    fn f(s: impl Into<String>) {}
                ),
                "`impl Trait` cannot be decoded",
            ),
            (
                quote!(
                    fn f() -> impl Serialize {}
                ),
                "must name its value's type",
            ),
            (
                quote!(
                    fn f() -> Result<impl Serialize, E> {}
                ),
                "must name its value's type",
            ),
            (
                quote!(
                    unsafe fn f() {}
                ),
                "`unsafe fn`",
            ),
            (
                quote!(
                    extern "C" fn f() {}
                ),
                "`extern` ABI",
            ),
            (
                quote!(
                    const fn f() {}
                ),
                "`const fn`",
            ),
            (
                quote!(
                    struct S;
                ),
                "free functions only",
            ),
            (quote!(impl S {}), "free functions only"),
            (
                quote!(
                    fn f() -> Result {}
                ),
                "`Result<T, E>`",
            ),
        ] {
            let message = error(item.clone());
            assert!(message.contains(expected), "{item}: {message}");
        }
    }
}
