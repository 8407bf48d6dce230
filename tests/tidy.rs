//! Repository rules checked as tests (STYLE.md rules 1, 11, 12, 17): crate dependency
//! arrows, module docs, RFC references both ways, `unsafe` only where allowed and with a
//! `// SAFETY:` line, no `todo!`/`unimplemented!` on reachable paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const CRATE_SOURCES: &[&str] = &[
    "runtime/src",
    "protocols/src",
    "storage/src",
    "actors/src",
    "web/src",
    "src",
    "benches/src",
    "loadtests/src",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in CRATE_SOURCES {
        rust_files(&root().join(dir), &mut files);
    }
    files.sort();
    files.into_iter().map(|path| (path.clone(), std::fs::read_to_string(&path).unwrap())).collect()
}

/// Names in the `[dependencies]` table of a crate's Cargo.toml.
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap();
    let mut in_dependencies = false;
    let mut names = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn crate_arrows_point_down() {
    let forbidden: &[(&str, &[&str])] = &[
        (
            "protocols/Cargo.toml",
            &["glommio", "heed", "rkyv", "moxide-runtime", "moxide-storage", "moxide-actors", "moxide-web"],
        ),
        (
            "storage/Cargo.toml",
            &["glommio", "moxide-runtime", "moxide-protocols", "moxide-actors", "moxide-web"],
        ),
        (
            "runtime/Cargo.toml",
            &["heed", "moxide-protocols", "moxide-storage", "moxide-actors", "moxide-web", "hyper"],
        ),
        ("actors/Cargo.toml", &["glommio", "heed", "moxide-web", "hyper"]),
        // The HTTP plane: hyper on the runtime's streams, no executor of its own (no
        // tokio runtime, no glommio), no serde in the crates below it.
        ("web/Cargo.toml", &["glommio", "heed", "tokio", "moxide-protocols"]),
        ("Cargo.toml", &["glommio", "heed"]),
    ];
    for (manifest, names) in forbidden {
        let deps = dependencies(manifest);
        assert!(!deps.is_empty(), "{manifest}: no [dependencies] found");
        for name in *names {
            assert!(!deps.contains(*name), "{manifest} must not depend on {name}");
        }
    }
    // The executor is the runtime's own (scheduler + reactor); glommio is gone for good.
    assert!(dependencies("runtime/Cargo.toml").contains("async-task"));
    for (path, text) in sources() {
        assert!(!text.contains("glommio::"), "{}: glommio is no longer used", path.display());
    }
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    for (path, text) in sources() {
        assert!(text.starts_with("//!"), "{} must open with a //! doc comment", path.display());
    }
}

#[test]
fn unsafe_only_where_allowed_and_justified() {
    for crate_lib in [
        "protocols/src/lib.rs",
        "actors/src/lib.rs",
        "web/src/lib.rs",
        "benches/src/lib.rs",
        "loadtests/src/main.rs",
    ] {
        let text = std::fs::read_to_string(root().join(crate_lib)).unwrap();
        assert!(text.contains("#![forbid(unsafe_code)]"), "{crate_lib} must forbid unsafe code");
    }
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let is_unsafe_block = code.contains("unsafe {") || code.contains("unsafe{");
            if !is_unsafe_block {
                continue;
            }
            let allowed =
                path.starts_with(root().join("runtime")) || path.starts_with(root().join("storage"));
            assert!(allowed, "{}:{}: unsafe outside runtime/storage", path.display(), i + 1);
            let justified = lines[i.saturating_sub(6)..=i].iter().any(|l| l.contains("// SAFETY:"));
            assert!(justified, "{}:{}: unsafe block without a // SAFETY: line", path.display(), i + 1);
        }
    }
}

#[test]
fn no_stubs_on_reachable_paths() {
    for (path, text) in sources() {
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.contains("todo!(") && !line.contains("unimplemented!("),
                "{}:{}: stub left in code",
                path.display(),
                i + 1
            );
        }
    }
}

/// RFC numbers written as `RFC NNNN` in `text`.
fn rfc_numbers(text: &str) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("RFC ") {
        let digits: String = text[i + 4..].chars().take_while(char::is_ascii_digit).collect();
        if let Ok(number) = digits.parse() {
            found.insert(number);
        }
    }
    found
}

#[test]
fn rfc_references_and_compliance_doc_agree() {
    let doc = std::fs::read_to_string(root().join("docs/rfc-compliance.md")).unwrap();
    let listed = rfc_numbers(&doc);
    let mut cited = BTreeSet::new();
    let mut files = Vec::new();
    rust_files(&root().join("protocols/tests"), &mut files);
    let mut all: Vec<String> = sources().into_iter().map(|(_, text)| text).collect();
    all.extend(files.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    for text in &all {
        cited.extend(rfc_numbers(text));
    }
    let missing: Vec<_> = cited.difference(&listed).collect();
    assert!(missing.is_empty(), "RFCs cited in code but not in docs/rfc-compliance.md: {missing:?}");
    // The other way: an RFC the doc says is implemented (Yes/Partial) is cited in code.
    for line in doc.lines().filter(|l| l.starts_with("| RFC ")) {
        let Some(&number) = rfc_numbers(line).first() else { continue };
        let status = line.split('|').nth(3).unwrap_or("").trim();
        if status == "Yes" || status == "Partial" {
            assert!(cited.contains(&number), "docs say RFC {number} is {status} but no code cites it");
        }
    }
}
