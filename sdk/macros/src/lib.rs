//! The attribute macros of the Skiff guest SDK; use them through `skiff_sdk`
//! (`#[skiff_sdk::http]`, `#[skiff_sdk::filter]`, `#[skiff_sdk::policy]`), whose runtime
//! support the generated code calls.

mod plugin;

use proc_macro::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Error, FnArg, ItemFn, ReturnType};

/// Makes a function the component's HTTP handler (it exports
/// `wasi:http/incoming-handler`). The function takes the request (a
/// `skiff_sdk::http::Request`) or nothing, may be `async`, and returns anything that is
/// `skiff_sdk::http::IntoResponse`: a `Response`, a `String` or `&str` (200, text), a
/// `(StatusCode, body)` pair, or a `Result` of those whose error becomes a 500.
///
/// ```ignore
/// #[skiff_sdk::http]
/// fn hello(req: skiff_sdk::http::Request) -> String {
///     format!("Hello from Skiff! You asked for {}\n", req.uri().path())
/// }
/// ```
#[proc_macro_attribute]
pub fn http(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_http(attr.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Makes a function the component's HTTP filter (it exports
/// `skiff:http-filter/filter`): `fn(req: &skiff_sdk::filter::Request) -> Action`, called
/// with each request of the routes that attach the filter. With `on_response = f`, `f`
/// (`fn(u16, &Fields) -> ResponseChanges`) sees each response head too.
///
/// ```ignore
/// #[skiff_sdk::filter]
/// fn auth(req: &Request) -> Action {
///     match req.header("authorization") {
///         Some(_) => Action::Pass,
///         None => Action::respond(401, "a token is needed\n"),
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    match plugin::expand(plugin::World::Filter, attr.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Makes a function the component's admission policy (it exports
/// `skiff:admission/policy`): `fn(req: &skiff_sdk::policy::Request) -> Verdict`, called
/// with each write its WasmAdmissionPolicy matches.
///
/// ```ignore
/// #[skiff_sdk::policy]
/// fn require_team(req: &Request) -> Verdict {
///     match req.label("team") {
///         Some(_) => Verdict::Allow,
///         None => Verdict::Deny("every object needs a `team` label".into()),
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn policy(attr: TokenStream, item: TokenStream) -> TokenStream {
    match plugin::expand(plugin::World::Policy, attr.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand_http(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> Result<proc_macro2::TokenStream, Error> {
    if !attr.is_empty() {
        return Err(Error::new(
            attr.span(),
            "#[skiff_sdk::http] takes no arguments: write `#[skiff_sdk::http]`",
        ));
    }
    let f: ItemFn = syn::parse2(item)?;
    let sig = &f.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new(
            sig.generics.span(),
            "an HTTP handler cannot be generic: name the request and response types",
        ));
    }
    if let Some(r) = sig.inputs.iter().find(|a| matches!(a, FnArg::Receiver(_))) {
        return Err(Error::new(
            r.span(),
            "an HTTP handler is a free function, not a method",
        ));
    }
    if sig.inputs.len() > 1 {
        return Err(Error::new(
            sig.inputs.span(),
            "an HTTP handler takes the request (`req: Request`) or nothing",
        ));
    }
    if let ReturnType::Default = sig.output {
        return Err(Error::new(
            sig.span(),
            "an HTTP handler returns its response: add `-> Response` (or `-> String`, `-> &'static str`, ...)",
        ));
    }
    let name = &sig.ident;
    let call = if sig.inputs.is_empty() {
        quote! { #name() }
    } else {
        quote! { #name(req) }
    };
    let call = if sig.asyncness.is_some() {
        quote! { #call.await }
    } else {
        call
    };
    Ok(quote! {
        #f

        const _: () = {
            struct __SkiffHttpHandler;

            impl ::skiff_sdk::__rt::wasip2::exports::http::incoming_handler::Guest
                for __SkiffHttpHandler
            {
                fn handle(
                    request: ::skiff_sdk::__rt::wasip2::http::types::IncomingRequest,
                    response_out: ::skiff_sdk::__rt::wasip2::http::types::ResponseOutparam,
                ) {
                    #[allow(unused_variables)]
                    ::skiff_sdk::__rt::serve(request, response_out, |req| {
                        ::skiff_sdk::__rt::block_on(async move {
                            ::skiff_sdk::http::IntoResponse::into_response(#call)
                        })
                    });
                }
            }

            ::skiff_sdk::__rt::wasip2::http::proxy::export!(
                __SkiffHttpHandler with_types_in ::skiff_sdk::__rt::wasip2
            );
        };
    })
}
