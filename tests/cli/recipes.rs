//! Runs every ```sh block of README.md with bash, in an empty temp home with the built
//! binary first on PATH, and asserts exit 0: the recipes cannot rot.
use crate::common;

use std::path::Path;

use common::Env;

/// The ```sh blocks of a Markdown file, with the line each starts on.
fn sh_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_end() == "```sh" => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "unterminated ```sh block");
    blocks
}

/// The peers a block declares with a first line `# needs: a, b`.
fn needs(block: &str) -> Vec<String> {
    block
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# needs:"))
        .map(|s| s.split(',').map(|w| w.trim().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn every_recipe_block_runs_and_exits_0() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&doc).expect("README.md");
    let blocks = sh_blocks(&text);
    assert!(blocks.len() >= 6, "only {} sh blocks", blocks.len());
    let bin_dir = common::bin().parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let mut ran = 0;
    for (line, block) in &blocks {
        let missing: Vec<String> = needs(block)
            .into_iter()
            .filter(|peer| match peer.as_str() {
                "htpasswd" => !common::htpasswd_installed(),
                other => panic!("README.md:{line}: unknown peer {other:?}"),
            })
            .collect();
        if !missing.is_empty() {
            common::skip(&format!("README.md:{line} not run: missing {missing:?}"));
            continue;
        }
        let env = Env::new();
        let out = env
            .std_cmd_for("bash")
            .args([
                "--norc",
                "--noprofile",
                "-e",
                "-u",
                "-o",
                "pipefail",
                "-c",
                block,
            ])
            .env("PATH", &path)
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "README.md:{line}: exit {:?}\n--- block\n{block}--- stdout\n{}--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= blocks.len() - 1, "ran {ran} of {}", blocks.len());
}

#[test]
fn block_extraction_and_needs() {
    let md = "x\n```sh\n# needs: htpasswd\necho a\n```\n```rust\nno\n```\n```sh\necho b\n```\n";
    let b = sh_blocks(md);
    assert_eq!(
        b,
        [
            (2, "# needs: htpasswd\necho a\n".to_string()),
            (9, "echo b\n".to_string())
        ]
    );
    assert_eq!(needs(&b[0].1), ["htpasswd"]);
    assert!(needs(&b[1].1).is_empty());
}
