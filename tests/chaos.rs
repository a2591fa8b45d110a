//! The chaos soak in its short form: a distributed run while workers are SIGKILLed
//! every second and nats-server restarts once (scripts/chaos.py; the long form is
//! documented in the README).

#[test]
fn a_run_survives_killed_workers_and_a_restarted_server() {
    if std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs nats-server for the chaos soak"
        );
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/chaos.py"))
        .args([
            "--dag",
            crate::common::dag_bin().to_str().unwrap(),
            "--tasks",
            "1200",
            "--kill-every",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1200 success") && stdout.contains("0 left in the queue"),
        "{stdout}"
    );
    eprintln!("{stdout}");
}
