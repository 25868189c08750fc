//! The `sabench` binary as a user meets it: clear errors for bad input, a clean exit on
//! SIGTERM, and a helpful message for a port in use.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

fn sabench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sabench"))
}

#[test]
fn serve_on_a_port_in_use_says_so_and_fails() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let output = sabench()
        .args(["serve", "--style", "async", "--port", &port])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already in use") && stderr.contains("--port"),
        "{stderr}"
    );
}

#[test]
fn the_binary_says_which_revision_it_was_built_from() {
    let output = sabench().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("sabench ") && text.contains("(revision "),
        "{text}"
    );
}

#[test]
fn ab_refuses_a_missing_build_and_too_few_pairs_with_a_reason() {
    let output = sabench()
        .args(["ab", "--before", "/nonexistent/sabench", "--after"])
        .arg(env!("CARGO_BIN_EXE_sabench"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--before /nonexistent/sabench: no such executable"),
        "{stderr}"
    );
    let output = sabench()
        .args(["ab", "--pairs", "5", "--before", "x", "--after", "y"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--pairs"), "{stderr}");
}

#[test]
fn bad_flags_are_refused_with_a_reason() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["serve", "--style", "async", "--bind", "0.0.0.0"],
            "not a loopback address",
        ),
        (
            &["serve", "--style", "async", "--io-mode", "upstream"],
            "needs --upstream",
        ),
        (
            &[
                "serve",
                "--style",
                "async",
                "--upstream",
                "http://10.1.2.3:80",
            ],
            "loopback",
        ),
        (
            &["serve", "--style", "async", "--threads", "8"],
            "applies to --style blocking",
        ),
        (
            &["serve", "--style", "hybrid", "--rayon-threads", "4"],
            "--rayon-threads applies to --style hybrid with offload rayon",
        ),
        (
            &["serve", "--style", "blocking", "--variant", "limited"],
            "it applies to async or hybrid",
        ),
    ];
    for (args, expected) in cases {
        let output = sabench().args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn serve_announces_its_port_and_exits_zero_on_sigterm() {
    for style in ["blocking", "async", "hybrid"] {
        let mut child = sabench()
            .args(["serve", "--style", style, "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let line = common::runs::first_line(&mut child);
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        assert!(std::net::TcpStream::connect(addr).is_ok());
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = common::wait_for_exit(
            &mut child,
            Duration::from_secs(20),
            &format!("{style} after SIGTERM"),
        );
        assert!(status.success(), "{style}: {status}");
    }
}
