//! The command line: usage errors and malformed scenarios exit 2 with a message, failing steps 1.

use std::path::PathBuf;

use netkit_conformance::cli_main;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("netkit-conformance-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(cli_main(&args(&[])), 2);
    assert_eq!(cli_main(&args(&["frobnicate"])), 2);
    assert_eq!(cli_main(&args(&["run"])), 2);
    assert_eq!(cli_main(&args(&["run", "x.scn", "--backend", "qemu"])), 2);
    assert_eq!(cli_main(&args(&["run", "x.scn", "--kernel", "5.4"])), 2);
    assert_eq!(cli_main(&args(&["run", "/nonexistent/x.scn"])), 2);
    let empty = temp_dir("empty");
    assert_eq!(cli_main(&args(&["run", empty.to_str().unwrap()])), 2);
}

#[test]
fn a_malformed_scenario_is_refused_before_anything_runs() {
    let dir = temp_dir("malformed");
    let file = dir.join("bad.scn");
    std::fs::write(
        &file,
        "dev add nk1\nprog attach P1 nk1 sideways => ok\nprog wobble\n",
    )
    .unwrap();
    assert_eq!(cli_main(&args(&["run", file.to_str().unwrap()])), 2);
    assert_eq!(cli_main(&args(&["list", file.to_str().unwrap()])), 2);
}

#[test]
fn passing_and_failing_runs_set_the_exit_status() {
    let dir = temp_dir("status");
    let good = dir.join("good.scn");
    std::fs::write(
        &good,
        "dev add nk1\nprog query nk1 primary => ok count=0 rev=1\n",
    )
    .unwrap();
    assert_eq!(cli_main(&args(&["run", good.to_str().unwrap(), "-j"])), 0);
    let bad = dir.join("bad.scn");
    std::fs::write(&bad, "dev add nk1\nprog query nk0 primary => ok\n").unwrap();
    assert_eq!(cli_main(&args(&["run", bad.to_str().unwrap()])), 1);
    assert_eq!(cli_main(&args(&["list", dir.to_str().unwrap()])), 0);
    assert_eq!(cli_main(&args(&["deviations", dir.to_str().unwrap()])), 0);
}
