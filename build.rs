//! Embeds the revision the binary was built from (`SABENCH_BUILD_REVISION`), so
//! results made outside a git checkout (a CI artifact, a container) still say where
//! they came from: `SABENCH_REVISION` when set at build time, else `git describe
//! --always --dirty` of the source tree, else `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SABENCH_REVISION");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/index");
    }
    let revision = std::env::var("SABENCH_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| git(&["describe", "--always", "--dirty"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SABENCH_BUILD_REVISION={revision}");
}
