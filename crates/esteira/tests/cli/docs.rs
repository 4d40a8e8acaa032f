//! `docs/cli.md` is the output of `scripts/cli-docs.sh` on this binary: a changed flag, help
//! text or subcommand without a regenerated reference fails here.

use std::path::Path;
use std::process::Command;

use super::support::BIN;

#[test]
fn the_cli_reference_matches_the_binarys_help() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg(root.join("scripts/cli-docs.sh"))
        .arg(BIN)
        .output()
        .expect("bash runs scripts/cli-docs.sh");
    assert!(
        output.status.success(),
        "cli-docs.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = String::from_utf8(output.stdout).expect("the help is UTF-8");
    let committed = std::fs::read_to_string(root.join("docs/cli.md")).expect("docs/cli.md exists");
    assert!(
        generated.contains("## `esteira server`") && generated.contains("--store"),
        "the generated reference lacks `esteira server` and its flags"
    );
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "docs/cli.md is out of date with the binary's --help (first difference at line {}); \
             regenerate it with `scripts/cli-docs.sh target/debug/esteira > docs/cli.md`",
            line + 1
        );
    }
}
