//! `#[skiff_sdk::filter]` and `#[skiff_sdk::policy]`: a function becomes the export of a
//! plugin world (an HTTP filter's request hook, an admission policy's review).

use quote::quote;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Error, FnArg, ItemFn, ReturnType};

/// Which world a plugin function exports.
pub enum World {
    Filter,
    Policy,
}

impl World {
    fn what(&self) -> &'static str {
        match self {
            World::Filter => "an HTTP filter (`fn f(req: &Request) -> Action`)",
            World::Policy => "an admission policy (`fn f(req: &Request) -> Verdict`)",
        }
    }
}

/// A plugin function: one `&Request` argument, a return type, not async or generic.
fn check(f: &ItemFn, world: &World) -> Result<(), Error> {
    let sig = &f.sig;
    let what = world.what();
    if sig.asyncness.is_some() {
        return Err(Error::new(sig.span(), format!("{what} is not async")));
    }
    if !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.generics.span(),
            format!("{what} cannot be generic"),
        ));
    }
    if sig.inputs.len() != 1 || matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return Err(Error::new(
            sig.inputs.span(),
            format!("{what} takes one argument"),
        ));
    }
    if let ReturnType::Default = sig.output {
        return Err(Error::new(sig.span(), format!("{what} returns its answer")));
    }
    Ok(())
}

/// The optional `on_response = path` of `#[skiff_sdk::filter(...)]`.
fn on_response(attr: proc_macro2::TokenStream) -> Result<Option<syn::Path>, Error> {
    if attr.is_empty() {
        return Ok(None);
    }
    let args = syn::punctuated::Punctuated::<syn::MetaNameValue, syn::Token![,]>::parse_terminated
        .parse2(attr)?;
    let mut found = None;
    for a in args {
        if !a.path.is_ident("on_response") {
            return Err(Error::new(
                a.path.span(),
                "the one argument is `on_response = FUNCTION` (a `fn(u16, &Fields) -> ResponseChanges`)",
            ));
        }
        match a.value {
            syn::Expr::Path(p) => found = Some(p.path),
            v => {
                return Err(Error::new(
                    v.span(),
                    "name a function: `on_response = fix_headers`",
                ));
            }
        }
    }
    Ok(found)
}

pub fn expand(
    world: World,
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> Result<proc_macro2::TokenStream, Error> {
    let f: ItemFn = syn::parse2(item)?;
    check(&f, &world)?;
    let name = &f.sig.ident;
    Ok(match world {
        World::Filter => {
            let response = match on_response(attr)? {
                Some(p) => quote! { #p(status, &headers) },
                None => quote! {
                    {
                        let _ = (status, headers);
                        ::skiff_sdk::filter::ResponseChanges::default()
                    }
                },
            };
            quote! {
                #f

                const _: () = {
                    struct __SkiffFilter;

                    impl ::skiff_sdk::filter::Guest for __SkiffFilter {
                        fn on_request(
                            req: ::skiff_sdk::filter::Request,
                        ) -> ::skiff_sdk::filter::Action {
                            #name(&req)
                        }

                        fn on_response(
                            status: u16,
                            headers: ::skiff_sdk::filter::Fields,
                        ) -> ::skiff_sdk::filter::ResponseChanges {
                            #response
                        }
                    }

                    ::skiff_sdk::filter::__bindings::export_filter!(
                        __SkiffFilter with_types_in ::skiff_sdk::filter::__bindings
                    );
                };
            }
        }
        World::Policy => {
            if !attr.is_empty() {
                return Err(Error::new(
                    attr.span(),
                    "#[skiff_sdk::policy] takes no arguments",
                ));
            }
            quote! {
                #f

                const _: () = {
                    struct __SkiffPolicy;

                    impl ::skiff_sdk::policy::Guest for __SkiffPolicy {
                        fn review(
                            req: ::skiff_sdk::policy::Request,
                        ) -> ::skiff_sdk::policy::Verdict {
                            #name(&req)
                        }
                    }

                    ::skiff_sdk::policy::__bindings::export_policy!(
                        __SkiffPolicy with_types_in ::skiff_sdk::policy::__bindings
                    );
                };
            }
        }
    })
}
