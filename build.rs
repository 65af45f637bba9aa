//! Puts the git commit in `--version` when built from a git checkout:
//! `prebounce 0.1.0 (abc1234)`; without git (a crate tarball, no git
//! installed) the crate version alone. Never fails the build.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = env!("CARGO_PKG_VERSION");
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    // Built again when HEAD moves: HEAD itself (a checkout) and the branch
    // it points at (a commit), wherever git keeps them (worktrees too).
    if commit.is_some() {
        let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(git(&["rev-parse", "--git-path", &branch]));
        }
        watch.push(git(&["rev-parse", "--git-path", "packed-refs"]));
        for path in watch.into_iter().flatten() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    match commit {
        Some(c) => println!("cargo:rustc-env=PREBOUNCE_VERSION={version} ({c})"),
        None => println!("cargo:rustc-env=PREBOUNCE_VERSION={version}"),
    }
}
