//! The seams of ARCHITECTURE.md, checked: the core (every module outside `src/cli/` and
//! `src/serve/`) never imports the command line, the server or clap, and never prints.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The core's source files: everything under `src/` but the front ends and `main.rs`.
fn core_files() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    rust_files(&src, &mut all);
    all.retain(|p| {
        let rel = p.strip_prefix(&src).expect("under src");
        !(rel.starts_with("cli") || rel.starts_with("serve") || rel == Path::new("main.rs"))
    });
    assert!(all.len() >= 10, "found the core modules: {all:?}");
    all
}

/// Lines of code, without comments (a doc comment may name the front ends).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    fs::read_to_string(path)
        .expect("readable")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

fn offenders(forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in core_files() {
        for (n, line) in code_lines(&path) {
            // `pub mod cli;` in lib.rs declares the front ends; it does not use them.
            if line.trim_start().starts_with("pub mod ") {
                continue;
            }
            if forbidden.iter().any(|f| line.contains(f)) {
                found.push(format!("{}:{n}: {}", path.display(), line.trim()));
            }
        }
    }
    found
}

#[test]
fn core_modules_do_not_import_the_front_ends_or_clap() {
    let found = offenders(&[
        "crate::cli",
        "crate::serve",
        "clap::",
        "use clap",
        "super::cli",
    ]);
    assert!(
        found.is_empty(),
        "core imports a front end:\n{}",
        found.join("\n")
    );
}

#[test]
fn core_modules_do_not_print() {
    let found = offenders(&[
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "stdout()",
        "stderr()",
    ]);
    assert!(found.is_empty(), "core prints:\n{}", found.join("\n"));
}

/// The check itself works: a core file that named the CLI would be found.
#[test]
fn the_check_sees_an_import() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("x.rs");
    fs::write(
        &f,
        "// crate::cli in a comment is fine\nuse crate::cli::args::Cli;\n",
    )
    .unwrap();
    let lines = code_lines(&f);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].1.contains("crate::cli"));
}
