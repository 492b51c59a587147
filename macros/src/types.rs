//! Types as the expansion needs them: as text for `TaskInfo`, and re-based
//! for use inside the generated module.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::Type;
use syn::visit_mut::VisitMut;

/// A type as written, with normalised spacing (`Vec<u64>`,
/// `Result<f64, MyError>`, `Box<dyn Error + Send>`, `[u8; 4]`).
pub(crate) fn type_text(ty: &Type) -> String {
    let mut atoms = Vec::new();
    flatten(ty.to_token_stream(), &mut atoms);
    render(&atoms)
}

/// A token of the printed form.
#[derive(Debug, PartialEq)]
enum Atom {
    /// An identifier or a literal.
    Word(String),
    /// One operator (joint punctuation merged: `::`, `->`).
    Op(String),
    /// An opening delimiter.
    Open(char),
    /// A closing delimiter.
    Close(char),
}

fn flatten(tokens: TokenStream, atoms: &mut Vec<Atom>) {
    let mut joint = false;
    for token in tokens {
        let was_joint = std::mem::take(&mut joint);
        match token {
            TokenTree::Ident(i) => match atoms.last() {
                // A lifetime is one word.
                Some(Atom::Op(op)) if was_joint && op == "'" => {
                    atoms.pop();
                    atoms.push(Atom::Word(format!("'{i}")));
                }
                _ => atoms.push(Atom::Word(i.to_string())),
            },
            TokenTree::Literal(l) => atoms.push(Atom::Word(l.to_string())),
            TokenTree::Punct(p) => {
                match atoms.last_mut() {
                    Some(Atom::Op(op)) if was_joint => op.push(p.as_char()),
                    _ => atoms.push(Atom::Op(p.as_char().to_string())),
                }
                joint = p.spacing() == Spacing::Joint;
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ('(', ')'),
                    Delimiter::Bracket => ('[', ']'),
                    Delimiter::Brace => ('{', '}'),
                    Delimiter::None => {
                        flatten(g.stream(), atoms);
                        continue;
                    }
                };
                atoms.push(Atom::Open(open));
                flatten(g.stream(), atoms);
                atoms.push(Atom::Close(close));
            }
        }
    }
}

fn render(atoms: &[Atom]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Atom> = None;
    for (i, atom) in atoms.iter().enumerate() {
        // A trailing comma before `>` (types written over several lines).
        if *atom == Atom::Op(",".to_owned())
            && matches!(atoms.get(i + 1), Some(Atom::Op(next)) if next.starts_with('>'))
        {
            continue;
        }
        let space_before = match (prev, atom) {
            (_, Atom::Close(_)) | (None, _) => false,
            (Some(Atom::Word(_)), Atom::Word(_)) => true,
            // `&mut [u8]`, `&'static (u32, u32)`, but `Fn(u32)`.
            (Some(Atom::Word(w)), Atom::Open(_)) => {
                matches!(w.as_str(), "mut" | "const" | "dyn" | "impl" | "as") || w.starts_with('\'')
            }
            (Some(Atom::Op(p)), _) if p == "," || p == ";" => true,
            (_, Atom::Op(o)) if matches!(o.as_str(), "+" | "=" | "->") => true,
            (Some(Atom::Op(p)), _) if matches!(p.as_str(), "+" | "=" | "->") => true,
            _ => false,
        };
        if space_before {
            out.push(' ');
        }
        match atom {
            Atom::Word(w) | Atom::Op(w) => out.push_str(w),
            Atom::Open(c) | Atom::Close(c) => out.push(*c),
        }
        prev = Some(atom);
    }
    out
}

/// The type as seen from a module nested in the one it was written in:
/// `self::X` becomes `super::X` and `super::X` becomes `super::super::X`.
pub(crate) fn rebase(ty: &Type) -> Type {
    let mut ty = ty.clone();
    Rebase.visit_type_mut(&mut ty);
    ty
}

struct Rebase;

impl VisitMut for Rebase {
    fn visit_path_mut(&mut self, path: &mut syn::Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first_mut()
        {
            if first.ident == "self" {
                first.ident = syn::Ident::new("super", first.ident.span());
            } else if first.ident == "super" {
                let span = first.ident.span();
                path.segments.insert(0, syn::PathSegment::from(syn::Ident::new("super", span)));
            }
        }
        syn::visit_mut::visit_path_mut(self, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(src: &str) -> syn::Result<String> {
        Ok(type_text(&syn::parse_str::<Type>(src)?))
    }

    #[test]
    fn types_print_as_usually_written() -> syn::Result<()> {
        for ty in [
            "u64",
            "()",
            "Vec<u64>",
            "Vec<Vec<u8>>",
            "Result<f64, MyError>",
            "std::collections::HashMap<String, Vec<(u32, String)>>",
            "Box<dyn std::error::Error + Send + Sync>",
            "Box<dyn std::error::Error + Send + Sync + 'static>",
            "[u8; 4]",
            "(u32,)",
            "&'static str",
            "&mut [u8]",
            "&'static [u8]",
            "Cow<'static, str>",
            "*const u8",
            "fn(u32) -> u32",
            "Box<dyn Fn(u32) -> u32 + Send>",
            "<T as Iterator>::Item",
            "Box<dyn Iterator<Item = u32>>",
            "Option<::std::string::String>",
        ] {
            assert_eq!(text(ty)?, ty);
        }
        assert_eq!(text("Vec < u64 >")?, "Vec<u64>");
        assert_eq!(text("Result<\n    u64,\n    E,\n>")?, "Result<u64, E>");
        Ok(())
    }

    #[test]
    fn relative_paths_are_rebased() -> syn::Result<()> {
        let rebased = |src: &str| -> syn::Result<String> { Ok(type_text(&rebase(&syn::parse_str::<Type>(src)?))) };
        assert_eq!(rebased("self::A")?, "super::A");
        assert_eq!(rebased("super::A")?, "super::super::A");
        assert_eq!(rebased("Vec<self::A>")?, "Vec<super::A>");
        assert_eq!(rebased("crate::A")?, "crate::A");
        assert_eq!(rebased("::a::A")?, "::a::A");
        assert_eq!(rebased("A")?, "A");
        Ok(())
    }
}
