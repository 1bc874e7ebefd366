//! Every Markdown guide in `docs/` (and the top-level README) is compiled as doctests of
//! the `ferrite` crate: its code snippets are checked by `cargo test`. This test fails when
//! a new guide is added without being wired in `crates/ferrite/src/lib.rs`.

use std::path::Path;

#[test]
fn every_guide_is_a_doctest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("crates/ferrite/src/lib.rs")).expect("lib.rs");
    let mut guides: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    guides.push("README.md".to_string());
    assert!(guides.len() >= 8, "found only {guides:?}");
    let missing: Vec<&String> = guides
        .iter()
        .filter(|g| !lib.contains(&format!("include_str!(\"../../../{g}\")")))
        .collect();
    assert!(
        missing.is_empty(),
        "guides whose code is not compiled by a doctest (wire them in crates/ferrite/src/lib.rs): {missing:?}"
    );
}
