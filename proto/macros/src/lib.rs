//! `#[model]`: what every type of Skiff's object model carries, written once.
//!
//! - On a struct: `Debug, Clone, PartialEq, Default`, serde (`camelCase` field names,
//!   unknown fields refused, as the API's strict decoding wants), rkyv (the stored form)
//!   the JSON schema OpenAPI documents are made from (doc comments become descriptions)
//!   and, in tests, proptest's `Arbitrary`.
//! - On an enum of plain values (`Always`, `IfNotPresent`, ...): the same, plus `Copy`
//!   and `Eq`, with variant names as written.
//!
//! A type that needs something else (another `rename_all`, no `Default`) spells its
//! attributes out instead.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Item, parse_macro_input};

#[proc_macro_attribute]
pub fn model(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        let args = proc_macro2::TokenStream::from(args);
        return syn::Error::new_spanned(args, "#[model] takes no arguments")
            .to_compile_error()
            .into();
    }
    let item = parse_macro_input!(item as Item);
    let attrs = match &item {
        Item::Struct(_) => quote! {
            #[derive(
                Debug,
                Clone,
                PartialEq,
                Default,
                ::serde::Serialize,
                ::serde::Deserialize,
                ::rkyv::Archive,
                ::rkyv::Serialize,
                ::rkyv::Deserialize,
                ::schemars::JsonSchema,
            )]
            #[serde(rename_all = "camelCase", deny_unknown_fields)]
            #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        },
        Item::Enum(_) => quote! {
            #[derive(
                Debug,
                Clone,
                Copy,
                PartialEq,
                Eq,
                Default,
                ::serde::Serialize,
                ::serde::Deserialize,
                ::rkyv::Archive,
                ::rkyv::Serialize,
                ::rkyv::Deserialize,
                ::schemars::JsonSchema,
            )]
            // Inline in schemas, as Kubernetes writes enums (`kubectl explain` lists them).
            #[schemars(inline)]
            #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        },
        other => {
            return syn::Error::new_spanned(other, "#[model] goes on a struct or an enum")
                .to_compile_error()
                .into();
        }
    };
    quote! { #attrs #item }.into()
}
