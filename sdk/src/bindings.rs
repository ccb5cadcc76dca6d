//! The guest side of Skiff's host capabilities (`sdk/wit/capabilities.wit`), generated
//! by wit-bindgen. Only what a component calls ends up among its imports.

wit_bindgen::generate!({
    path: "wit",
    world: "skiff:sdk/capabilities",
    generate_all,
});
