//! The `docker` task runner: one container per attempt on the Docker engine, through
//! bollard.
//!
//! The container is named `dag-<run>-<task>-<attempt>` and labelled `dag.run_id`,
//! `dag.task_id`, `dag.attempt` (and `dag.dag`), so concurrent runs never collide and
//! leftovers can be found. Its stdout and stderr stream into the task log live; its
//! exit code decides the state; it is removed afterwards, whatever happened. A
//! timeout or Ctrl-C stops it (SIGTERM, the grace period, SIGKILL); a second Ctrl-C
//! kills it at once. `$DAG_OUTPUT` is a file bind-mounted into the container.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::outputs::{self, OutputDir};
use super::process::reaper;
use crate::engine::runner::{BoxFuture, LineSink, Outcome, TaskContext, TaskLog, TaskRunner};
use crate::engine::spec::{DockerSpec, PullPolicy, TaskKind};

/// Where `$DAG_OUTPUT` is inside the container.
const OUTPUT_IN_CONTAINER: &str = "/run/dag/output";

/// Runs `docker` tasks.
#[derive(Clone)]
pub struct DockerRunner {
    client: Arc<Result<Docker, String>>,
    /// The client after API version negotiation with the daemon.
    ready: Arc<OnceCell<Docker>>,
    outputs: OutputDir,
    defaults: Arc<DockerDefaults>,
    policy: Arc<DockerPolicy>,
}

/// What a runner gives docker tasks that leave it to the runner (the seed system's
/// executor configuration): on `dag run` and `dag worker`, the `--docker-*` flags.
/// A task's own key, then the file's `defaults:`, come first; volumes are added to
/// the task's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerDefaults {
    /// Image of tasks that name none.
    pub image: Option<String>,
    /// Network of tasks that name none.
    pub network: Option<String>,
    /// Memory limit (MiB) of tasks that set none.
    pub memory_mb: Option<u64>,
    /// CPU limit (percent of one CPU) of tasks that set none.
    pub cpu_quota: Option<u64>,
    /// Bind mounts (`HOST:CONTAINER[:ro]`) every container gets.
    pub volumes: Vec<String>,
}

impl DockerDefaults {
    /// The spec a container is started with: `spec`, with what it leaves open taken
    /// from these defaults. A task without an image anywhere is an error.
    pub fn apply(&self, spec: &DockerSpec) -> Result<DockerSpec, String> {
        let mut out = spec.clone();
        if out.image.trim().is_empty() {
            out.image = self.image.clone().ok_or(
                "the task names no image, and this runner has no default image \
                 (--docker-image)",
            )?;
        }
        out.network = out.network.or_else(|| self.network.clone());
        out.memory_mb = out.memory_mb.or(self.memory_mb);
        out.cpu_quota = out.cpu_quota.or(self.cpu_quota);
        // The task's own mount of a container path wins over a default one (Docker
        // refuses two mounts at one path).
        let target = |v: &str| v.split(':').nth(1).map(str::to_string);
        let own: Vec<Option<String>> = spec.volumes.iter().map(|v| target(v)).collect();
        out.volumes = self
            .volumes
            .iter()
            .filter(|v| !own.contains(&target(v)))
            .chain(&spec.volumes)
            .cloned()
            .collect();
        Ok(out)
    }
}

/// What a worker lets docker tasks ask for in their own keys (`--allow-volume`,
/// `--allow-network`). The runner's own defaults (`--docker-volume`,
/// `--docker-network`) are the operator's and are not checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerPolicy {
    /// Host path prefixes a task's volumes may bind-mount, resolved
    /// ([`DockerPolicy::resolve_prefixes`]); `None`: any.
    pub volumes: Option<Vec<PathBuf>>,
    /// Networks (`network_mode`) a task may name; `None`: any.
    pub networks: Option<Vec<String>>,
}

/// The networks a worker lets tasks name when `--allow-network` is not given: the
/// default bridge and no network. `host` and `container:NAME` share the host's or
/// another container's network stack and must be allowed by name.
pub const DEFAULT_NETWORKS: &[&str] = &["bridge", "default", "none"];

impl DockerPolicy {
    /// The `--allow-volume` prefixes as [`DockerPolicy::volumes`] holds them:
    /// each resolved once, now (symlinks followed, `..` gone), and never again, so
    /// a symlink a task plants at a prefix's path later cannot widen it. A prefix
    /// that does not exist or is not a directory is an error naming it.
    pub fn resolve_prefixes(prefixes: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
        prefixes
            .iter()
            .map(|p| {
                let bad = |why: String| format!("--allow-volume {}: {why}", p.display());
                let resolved =
                    std::fs::canonicalize(p).map_err(|e| bad(format!("cannot resolve it: {e}")))?;
                if !resolved.is_dir() {
                    return Err(bad(format!("{} is not a directory", resolved.display())));
                }
                Ok(resolved)
            })
            .collect()
    }

    /// `spec` with the host path of each volume resolved (symlinks followed, `..`
    /// gone) and checked against the allowed prefixes; that resolved path is what
    /// Docker mounts, so a symlink in an allowed directory is never followed by the
    /// engine. An error names the volume or network refused.
    pub fn admit(&self, spec: &DockerSpec) -> Result<DockerSpec, String> {
        if let (Some(allowed), Some(network)) = (&self.networks, &spec.network)
            && !allowed.contains(network)
        {
            return Err(format!(
                "network `{network}` is not allowed on this worker (--allow-network {})",
                allowed.join(", ")
            ));
        }
        let Some(prefixes) = &self.volumes else {
            return Ok(spec.clone());
        };
        let refuse = |v: &str, why: &str| {
            Err(format!(
                "volume `{v}` is not under an allowed path (--allow-volume {}): {why}",
                prefixes
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        let mut out = spec.clone();
        for v in &mut out.volumes {
            let (host, rest) = v.split_once(':').unwrap_or((v.as_str(), ""));
            // Named volumes and relative paths cannot be checked against prefixes.
            if !host.starts_with('/') {
                return refuse(v, "not an absolute host path");
            }
            let resolved = match std::fs::canonicalize(host) {
                Ok(p) => p,
                Err(e) => return refuse(v, &format!("cannot resolve {host}: {e}")),
            };
            // The prefixes were resolved once, when the worker started
            // ([`DockerPolicy::resolve_prefixes`]): a symlink planted at a prefix's
            // path since then is never followed. `starts_with` compares whole
            // components (`/srv/data` does not admit `/srv/database`).
            let inside = prefixes.iter().any(|p| resolved.starts_with(p));
            if !inside {
                return refuse(v, &format!("it resolves to {}", resolved.display()));
            }
            let Some(text) = resolved.to_str().filter(|t| !t.contains(':')) else {
                return refuse(v, "its resolved path cannot be written in a bind mount");
            };
            *v = format!("{text}:{rest}");
        }
        Ok(out)
    }
}

/// A task volume's host directory (or file), pinned for the engine: opened
/// component by component from its allowed prefix without following a symbolic
/// link, then bind-mounted from that open handle at a staging path in a private
/// directory of this process (0700, outside every allowed prefix). Docker is given
/// the staging path: no task can rename or replace any of its components, so what
/// the engine mounts is what was checked, whatever a task does to the allowed
/// directory meanwhile. Unmounted (lazily) and removed when dropped.
struct Pinned {
    staging: PathBuf,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.staging, nix::mount::MntFlags::MNT_DETACH);
        // Never recursive: if the unmount failed, the allowed directory's content
        // is behind this path.
        let _ = std::fs::remove_dir(&self.staging).or_else(|_| std::fs::remove_file(&self.staging));
    }
}

/// Where staging mounts go: a private directory of this process, made once.
fn staging_dir() -> Result<&'static PathBuf, String> {
    static DIR: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        super::process::reaper::private_temp_dir("volumes")
            .and_then(std::fs::canonicalize)
            .map_err(|e| {
                format!(
                    "cannot create a private directory in {}: {e}",
                    std::env::temp_dir().display()
                )
            })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Opens `path` with `O_PATH | O_NOFOLLOW`.
fn open_path(path: &std::path::Path, directory: bool) -> std::io::Result<std::fs::File> {
    use nix::libc;
    use std::os::unix::fs::OpenOptionsExt;
    let mut flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if directory {
        flags |= libc::O_DIRECTORY;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
}

/// Pins `host` (a path [`DockerPolicy::admit`] resolved inside one of `prefixes`)
/// as [`Pinned`] describes; `n` makes the staging name unique in the attempt.
fn pin(host: &str, prefixes: &[PathBuf], tag: &str) -> Result<Pinned, String> {
    use std::os::fd::AsRawFd;
    let path = std::path::Path::new(host);
    let changed = |why: String| format!("volume host path {host} {why} after it was checked");
    let prefix = prefixes
        .iter()
        .filter(|p| path.starts_with(p))
        .max_by_key(|p| p.as_os_str().len())
        .ok_or_else(|| changed("is no longer under an allowed path".into()))?;
    // The prefix was resolved when the worker started and lies outside what tasks
    // can change; below it, each component is opened through the handle of its
    // parent, never following a symbolic link.
    let mut handle =
        open_path(prefix, true).map_err(|e| changed(format!("cannot be opened ({e})")))?;
    let rest = path
        .strip_prefix(prefix)
        .unwrap_or(std::path::Path::new(""));
    for part in rest.components() {
        let std::path::Component::Normal(name) = part else {
            return Err(changed("has an unexpected component".into()));
        };
        let through = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd())).join(name);
        handle =
            open_path(&through, false).map_err(|e| changed(format!("cannot be opened ({e})")))?;
        let meta = handle
            .metadata()
            .map_err(|e| changed(format!("cannot be examined ({e})")))?;
        if meta.file_type().is_symlink() {
            return Err(changed(format!(
                "changed (its component {} became a symbolic link)",
                name.to_string_lossy()
            )));
        }
    }
    let is_dir = handle.metadata().is_ok_and(|m| m.is_dir());
    let staging = staging_dir()?.join(tag);
    let made = if is_dir {
        std::fs::create_dir(&staging)
    } else {
        std::fs::File::create_new(&staging).map(drop)
    };
    made.map_err(|e| {
        format!(
            "cannot make a staging mount point {}: {e}",
            staging.display()
        )
    })?;
    let pinned = Pinned { staging };
    let source = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
    nix::mount::mount(
        Some(&source),
        &pinned.staging,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| {
        format!(
            "volume {host}: --allow-volume is enforced by bind-mounting each checked \
             directory at a private path, and this worker cannot mount ({e}; it needs to \
             run as root, in the Docker engine's mount namespace)"
        )
    })?;
    Ok(pinned)
}

/// Whether the engine runs on this machine, where a path this process mounts is
/// the path the engine sees: a unix socket, or TCP to a loopback address.
fn engine_is_local(host: &str) -> bool {
    if host.starts_with("unix://") {
        return true;
    }
    let rest = host.split_once("://").map_or(host, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let name = match authority.rfind(']') {
        Some(end) => &authority[..=end],
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    matches!(name, "localhost" | "[::1]") || name.starts_with("127.")
}

impl DockerRunner {
    /// A runner for the daemon named by `DOCKER_HOST`, else the local socket. Nothing
    /// is contacted until a run with docker tasks starts.
    pub fn new() -> DockerRunner {
        DockerRunner {
            client: Arc::new(connect(&docker_host())),
            ready: Arc::default(),
            outputs: OutputDir::default(),
            defaults: Arc::default(),
            policy: Arc::default(),
        }
    }

    /// The same runner, giving tasks `defaults` for what they leave open.
    pub fn with_defaults(mut self, defaults: DockerDefaults) -> DockerRunner {
        self.defaults = Arc::new(defaults);
        self
    }

    /// The same runner, refusing what `policy` does not allow (a worker's
    /// `--allow-volume` and `--allow-network`).
    pub fn with_policy(mut self, policy: DockerPolicy) -> DockerRunner {
        self.policy = Arc::new(policy);
        self
    }

    async fn docker(&self) -> Result<Docker, String> {
        let client = self.client.as_ref().clone()?;
        self.ready
            .get_or_try_init(|| async move {
                let host = docker_host();
                let contact = async {
                    let docker = client
                        .negotiate_version()
                        .await
                        .map_err(|e| unreachable(&host, &with_causes(&e)))?;
                    docker
                        .ping()
                        .await
                        .map_err(|e| unreachable(&host, &with_causes(&e)))?;
                    Ok::<Docker, String>(docker)
                };
                tokio::time::timeout(CONTACT_TIMEOUT, contact)
                    .await
                    .unwrap_or_else(|_| {
                        Err(unreachable(
                            &host,
                            &format!(
                                "no answer within {}",
                                humantime::format_duration(CONTACT_TIMEOUT)
                            ),
                        ))
                    })
            })
            .await
            .cloned()
    }
}

/// The engine's address when `DOCKER_HOST` names none.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long each request to the engine may take (bollard's default).
const REQUEST_TIMEOUT: u64 = 120;

/// How long the first contact with the engine may take before the run gives up.
const CONTACT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The engine's address: `DOCKER_HOST` as the docker CLI reads it (an empty value
/// is unset), else the local socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// A client for the engine at `host`, as the docker CLI reads its variables:
/// `unix://PATH`; `tcp://HOST:PORT` (or `http://`), over TLS when
/// `DOCKER_TLS_VERIFY` is set (to anything but the empty string) with `ca.pem`,
/// `cert.pem` and `key.pem` from `DOCKER_CERT_PATH` (default `~/.docker`); and
/// `https://`. Nothing is contacted yet.
pub fn connect(host: &str) -> Result<Docker, String> {
    use bollard::API_DEFAULT_VERSION;
    let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
    let with_port = with_default_port(host, tls);
    let host = with_port.as_str();
    let client = if host.starts_with("unix://") {
        Docker::connect_with_unix(host, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
    } else if host.starts_with("https://")
        || (tls && (host.starts_with("tcp://") || host.starts_with("http://")))
    {
        let dir = match std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
            Some(dir) => std::path::PathBuf::from(dir),
            None => directories::BaseDirs::new()
                .map(|b| b.home_dir().join(".docker"))
                .ok_or_else(|| unreachable(host, "no DOCKER_CERT_PATH and no home directory"))?,
        };
        let [ca, cert, key] = ["ca.pem", "cert.pem", "key.pem"].map(|f| dir.join(f));
        if let Some(missing) = [&ca, &cert, &key].into_iter().find(|p| !p.is_file()) {
            return Err(unreachable(
                host,
                &format!(
                    "DOCKER_TLS_VERIFY is set but {} is missing (DOCKER_CERT_PATH names the directory of ca.pem, cert.pem and key.pem)",
                    missing.display()
                ),
            ));
        }
        check_pem(&ca, &cert, &key).map_err(|why| unreachable(host, &why))?;
        Docker::connect_with_ssl(host, &key, &cert, &ca, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
    } else {
        return Err(unreachable(
            host,
            "unsupported address in DOCKER_HOST (use unix://PATH, tcp://HOST:PORT or https://HOST:PORT)",
        ));
    };
    client.map_err(|e| unreachable(host, &e.to_string()))
}

/// `host` with the docker CLI's default port when a `tcp://` or `http://` address
/// names none: 2375, or 2376 over TLS; `https://` defaults to 2376.
fn with_default_port(host: &str, tls: bool) -> String {
    let Some((scheme, rest)) = host.split_once("://") else {
        return host.to_string();
    };
    let port = match scheme {
        "tcp" | "http" if tls => 2376,
        "tcp" | "http" => 2375,
        "https" => 2376,
        _ => return host.to_string(),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `[::1]` is an IPv6 address without a port; `[::1]:2375` and `h:2375` have one.
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port || authority.is_empty() {
        return host.to_string();
    }
    format!("{scheme}://{authority}:{port}{path}")
}

/// The TLS files are PEM of the right kind: certificates in `ca` and `cert`, a
/// private key in `key`. The client would otherwise fail each handshake with no
/// word about the files.
fn check_pem(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |p: &std::path::Path, what: &str, e: String| {
        format!(
            "DOCKER_TLS_VERIFY is set but the certificate file {} is invalid: {what} ({e})",
            p.display()
        )
    };
    for file in [ca, cert] {
        let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(file)
            .map_err(|e| invalid(file, "no PEM certificate in it", e.to_string()))?
            .collect();
        match certs {
            Ok(c) if !c.is_empty() => {}
            Ok(_) => {
                return Err(invalid(file, "no PEM certificate in it", "empty".into()));
            }
            Err(e) => return Err(invalid(file, "no PEM certificate in it", e.to_string())),
        }
    }
    PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(key, "no PEM private key in it", e.to_string()))?;
    Ok(())
}

/// Names the daemon that could not be reached, and why.
fn unreachable(host: &str, why: &str) -> String {
    format!(
        "the Docker daemon at {} is unreachable: {why}",
        crate::engine::secrets::redact_urls(host)
    )
}

impl Default for DockerRunner {
    fn default() -> Self {
        DockerRunner::new()
    }
}

impl TaskRunner for DockerRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let runner = self.clone();
        Box::pin(async move {
            // One deadline for the whole attempt: every request to the engine is
            // raced against it and against a stop, so an engine that hangs costs
            // the task's timeout, and Ctrl-C acts at once.
            let deadline = tokio::time::Instant::now() + ctx.timeout;
            let docker = match bounded(&ctx, deadline, runner.docker()).await {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => return Outcome::failed(None, e),
                Err(halt) => return halt.outcome(&ctx, "contacting the engine"),
            };
            run_container(&runner, &docker, ctx, deadline).await
        })
    }

    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        let runner = self.clone();
        Box::pin(async move { runner.docker().await.map(|_| ()) })
    }
}

/// A container name for one attempt: Docker allows `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn container_name(run_id: &str, task: &str, attempt: u32) -> String {
    let clean: String = format!("dag-{run_id}-{task}-{attempt}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean
}

/// Checks a bind mount `host:container[:options]` before Docker sees it, so the error
/// names the task's own spec.
pub fn check_volume(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let bad = |why: &str| {
        Err(format!(
            "invalid volume `{spec}`: {why} (write HOST_PATH:CONTAINER_PATH[:ro])"
        ))
    };
    match parts.as_slice() {
        [host, container] | [host, container, _] if host.is_empty() || container.is_empty() => {
            bad("empty path")
        }
        [_, container] | [_, container, _] if !container.starts_with('/') => {
            bad("the container path must be absolute")
        }
        [_, _] => Ok(()),
        [_, _, opts] => {
            let known = [
                "ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave",
                "rprivate", "nocopy",
            ];
            match opts.split(',').find(|o| !known.contains(o)) {
                Some(o) => bad(&format!("unknown option `{o}`")),
                None => Ok(()),
            }
        }
        _ => bad("expected two or three `:`-separated parts"),
    }
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// What went wrong with a request: the engine's own message, or the transport's
/// error with its causes ("connection refused") and the engine's address.
fn server_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => format!(
            "{} (the Docker engine at {})",
            with_causes(other),
            engine_address()
        ),
    }
}

/// An error's message followed by those of its sources (hyper's "client error
/// (Connect)" hides the "Connection refused" below it).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Makes sure the image is there according to the pull policy.
async fn ensure_image(docker: &Docker, spec: &DockerSpec, log: &TaskLog) -> Result<(), String> {
    let present = match docker.inspect_image(&spec.image).await {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => false,
        Err(e) => {
            return Err(format!(
                "cannot inspect image {}: {}",
                spec.image,
                server_message(&e)
            ));
        }
    };
    let pull = match spec.pull {
        PullPolicy::Always => true,
        PullPolicy::Missing => !present,
        PullPolicy::Never if present => false,
        PullPolicy::Never => {
            return Err(format!(
                "image {} is not present and the task says `pull: never`",
                spec.image
            ));
        }
    };
    if !pull {
        return Ok(());
    }
    log.line(&format!("dag: pulling {}", spec.image));
    let (repo, tag) = split_image(&spec.image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(repo)
        .tag(tag)
        .build();
    let mut progress = docker.create_image(Some(options), None, None);
    while let Some(step) = progress.next().await {
        if let Err(e) = step {
            return Err(format!(
                "cannot pull image {}: {}",
                spec.image,
                server_message(&e)
            ));
        }
    }
    Ok(())
}

/// `repo[:tag]` or `repo@digest`; a `:` in a registry's host:port is not a tag.
fn split_image(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// Why an attempt stopped waiting for the engine.
enum Halt {
    TimedOut,
    Cancelled(&'static str),
}

impl Halt {
    /// The attempt's outcome: a timeout names what the engine was doing and where
    /// it is.
    fn outcome(self, ctx: &TaskContext, doing: &str) -> Outcome {
        match self {
            Halt::TimedOut => {
                let msg = format!(
                    "timed out after {} ({doing}: the Docker engine at {} did not answer in time)",
                    humantime::format_duration(ctx.timeout),
                    engine_address()
                );
                ctx.log.line(&format!("dag: {msg}"));
                Outcome::failed(None, msg)
            }
            Halt::Cancelled(why) => Outcome::cancelled(why),
        }
    }
}

/// `work`, unless the attempt's deadline passes or it is stopped (gracefully or
/// hard) first.
async fn bounded<T>(
    ctx: &TaskContext,
    deadline: tokio::time::Instant,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Halt> {
    tokio::select! {
        out = work => Ok(out),
        _ = tokio::time::sleep_until(deadline) => Err(Halt::TimedOut),
        _ = ctx.stop.graceful.cancelled() => Err(Halt::Cancelled("cancelled")),
        _ = ctx.stop.hard.cancelled() => Err(Halt::Cancelled("killed")),
    }
}

/// How long cleaning up (stopping beyond the grace period, removing) may wait for
/// the engine before it is left to the reaper.
const CLEANUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The engine's address as messages show it (credentials in a URL hidden).
fn engine_address() -> String {
    crate::engine::secrets::redact_urls(&docker_host())
}

async fn run_container(
    runner: &DockerRunner,
    docker: &Docker,
    ctx: TaskContext,
    deadline: tokio::time::Instant,
) -> Outcome {
    let TaskKind::Docker(spec) = &ctx.task().kind else {
        return Outcome::failed(None, "not a docker task");
    };
    // The task's own volumes and network against the worker's allow-lists; the
    // defaults added next are the operator's own.
    let spec = match runner.policy.admit(spec) {
        Ok(spec) => spec,
        Err(e) => {
            ctx.log.line(&format!("dag: {e}"));
            return Outcome::failed(None, e);
        }
    };
    // Each admitted volume is pinned (see [`Pinned`]) and Docker mounts the pin:
    // a symbolic link swapped in after the check is never followed.
    let mut spec = spec;
    let mut pins: Vec<Pinned> = Vec::new();
    if let Some(prefixes) = &runner.policy.volumes {
        if !spec.volumes.is_empty() && !engine_is_local(&docker_host()) {
            let msg = format!(
                "task volumes cannot be checked against --allow-volume on a remote Docker \
                 engine ({}): the engine mounts its own host's paths",
                engine_address()
            );
            ctx.log.line(&format!("dag: {msg}"));
            return Outcome::failed(None, msg);
        }
        for (i, v) in spec.volumes.iter_mut().enumerate() {
            let (host, rest) = v.split_once(':').unwrap_or((v.as_str(), ""));
            let tag = format!(
                "{}-{i}",
                container_name(&ctx.run_id, &ctx.task().id, ctx.attempt)
            );
            match pin(host, prefixes, &tag) {
                Ok(p) => {
                    *v = format!("{}:{rest}", p.staging.display());
                    pins.push(p);
                }
                Err(e) => {
                    ctx.log.line(&format!("dag: {e}"));
                    return Outcome::failed(None, e);
                }
            }
        }
    }
    let spec = match runner.defaults.apply(&spec) {
        Ok(spec) => spec,
        Err(e) => {
            ctx.log.line(&format!("dag: {e}"));
            return Outcome::failed(None, e);
        }
    };
    for v in &spec.volumes {
        if let Err(e) = check_volume(v) {
            ctx.log.line(&format!("dag: {e}"));
            return Outcome::failed(None, e);
        }
    }
    match bounded(&ctx, deadline, ensure_image(docker, &spec, &ctx.log)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            ctx.log.line(&format!("dag: {e}"));
            return Outcome::failed(None, e);
        }
        Err(halt) => return halt.outcome(&ctx, &format!("looking for image {}", spec.image)),
    }
    let task_id = ctx.task().id.clone();
    // The output file must exist before it is mounted, or Docker makes a directory.
    let output_file = match runner
        .outputs
        .file(&ctx.run_id, &task_id, ctx.attempt)
        .and_then(|p| {
            super::outputs::create_fresh(&p)
                .map(|()| p)
                .map_err(|e| format!("cannot create the output file: {e}"))
        }) {
        Ok(p) => p,
        Err(e) => return Outcome::failed(None, e),
    };
    let name = container_name(&ctx.run_id, &task_id, ctx.attempt);
    let mut labels = HashMap::from([
        ("dag.run_id".to_string(), ctx.run_id.clone()),
        ("dag.task_id".to_string(), task_id.to_string()),
        ("dag.attempt".to_string(), ctx.attempt.to_string()),
        ("dag.dag".to_string(), ctx.dag.spec.name.clone()),
    ]);
    let reaper_labels = reaper::labels();
    if !reaper_labels.is_empty() {
        // The reaper removes the container if this dag (or an enclosing one) dies
        // before it does.
        labels.extend(reaper_labels.into_iter().map(|l| (l, "1".to_string())));
        reaper::containers_started();
    }
    let mut env: Vec<String> = ctx.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("DAG_OUTPUT={OUTPUT_IN_CONTAINER}"));
    let mut binds = spec.volumes.clone();
    binds.push(format!("{}:{OUTPUT_IN_CONTAINER}", output_file.display()));
    let host_config = HostConfig {
        binds: Some(binds),
        memory: spec
            .memory_mb
            .map(|mb| (mb.saturating_mul(1024 * 1024)).min(i64::MAX as u64) as i64),
        cpu_period: spec.cpu_quota.map(|_| 100_000),
        cpu_quota: spec.cpu_quota.map(|pct| (pct * 1000) as i64),
        network_mode: spec.network.clone(),
        // Docker's init (tini) as PID 1 passes SIGTERM on to the command and reaps
        // zombies; a shell as PID 1 would ignore SIGTERM and wait for SIGKILL.
        init: Some(true),
        device_requests: gpu_request(&ctx.gpus),
        ..HostConfig::default()
    };
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec
            .command
            .as_ref()
            .map(|c| vec!["sh".to_string(), "-c".to_string(), c.clone()]),
        env: Some(env),
        working_dir: ctx.workdir.as_ref().map(|w| w.display().to_string()),
        labels: Some(labels),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = bounded(&ctx, deadline, docker.create_container(Some(options), body)).await;
    if !matches!(created, Ok(Ok(_))) {
        let _ = std::fs::remove_file(&output_file);
    }
    match created {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let msg = format!("cannot create container {name}: {}", server_message(&e));
            ctx.log.line(&format!("dag: {msg}"));
            return Outcome::failed(None, msg);
        }
        Err(halt) => {
            // The request may still land: remove what it made (the reaper is the
            // last resort).
            Remover {
                docker: docker.clone(),
                name: name.clone(),
                armed: false,
            }
            .remove()
            .await;
            return halt.outcome(&ctx, &format!("creating container {name}"));
        }
    }
    // From here on the container exists: whatever happens, it is removed.
    let guard = Remover {
        docker: docker.clone(),
        name: name.clone(),
        armed: true,
    };
    let outcome = drive(docker, &name, &ctx, deadline).await;
    guard.remove().await;
    // Unmounted once the container is gone.
    drop(pins);
    let outputs = outputs::take(&output_file, ctx.output_cap).await;
    match (outcome, outputs) {
        (o, Ok(outputs)) if o.status == crate::engine::runner::Status::Success => {
            o.with_outputs(outputs)
        }
        (o, Err(e)) if o.status == crate::engine::runner::Status::Success => {
            ctx.log.line(&format!("dag: {e}"));
            Outcome::failed(o.exit_code, e)
        }
        (o, _) => o,
    }
}

/// The device request that gives a container the GPUs its attempt holds, by id,
/// through the NVIDIA Container Toolkit's driver (`docker run --gpus
/// '"device=0,1"'` makes the same); none for an attempt that holds none.
pub fn gpu_request(gpus: &[String]) -> Option<Vec<DeviceRequest>> {
    (!gpus.is_empty()).then(|| {
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(gpus.to_vec()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..DeviceRequest::default()
        }]
    })
}

/// What the engine holds of a container's device requests (`docker inspect`'s
/// `HostConfig.DeviceRequests`), as `nvidia [0, 1]`: told when a container
/// given GPUs cannot start, since the usual cause is a host without the NVIDIA
/// Container Toolkit.
async fn requested_devices(docker: &Docker, name: &str) -> Option<String> {
    let info = tokio::time::timeout(CLEANUP_TIMEOUT, docker.inspect_container(name, None))
        .await
        .ok()?
        .ok()?;
    let requests = info.host_config?.device_requests?;
    let shown: Vec<String> = requests
        .iter()
        .map(|r| {
            format!(
                "{} [{}]",
                r.driver.as_deref().unwrap_or("any driver"),
                r.device_ids.as_deref().unwrap_or_default().join(", ")
            )
        })
        .collect();
    (!shown.is_empty()).then(|| shown.join("; "))
}

/// Starts the container, streams its output, and waits for it, a timeout or a stop.
async fn drive(
    docker: &Docker,
    name: &str,
    ctx: &TaskContext,
    deadline: tokio::time::Instant,
) -> Outcome {
    match bounded(ctx, deadline, docker.start_container(name, None)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let mut msg = format!("cannot start container {name}: {}", server_message(&e));
            if !ctx.gpus.is_empty()
                && let Some(devices) = requested_devices(docker, name).await
            {
                msg.push_str(&format!(
                    " (it requests GPUs {devices}: the Docker engine needs the NVIDIA Container Toolkit for them)"
                ));
            }
            ctx.log.line(&format!("dag: {msg}"));
            return Outcome::failed(None, msg);
        }
        Err(halt) => return halt.outcome(ctx, &format!("starting container {name}")),
    }
    let logs = tokio::spawn(copy_logs(
        docker.clone(),
        name.to_string(),
        ctx.log.clone(),
        ctx.lines.clone().map(|l| (ctx.task().id.to_string(), l)),
    ));
    let mut wait = docker.wait_container(name, None);
    let stop = &ctx.stop;
    let timeout = tokio::time::sleep_until(deadline);
    tokio::pin!(timeout);
    enum End {
        Exited(Result<i64, String>),
        TimedOut,
        Cancelled(&'static str),
    }
    let end = tokio::select! {
        w = wait.next() => End::Exited(match w {
            Some(Ok(r)) => Ok(r.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(server_message(&e)),
            None => Err("the wait for the container ended without a status".to_string()),
        }),
        _ = &mut timeout => End::TimedOut,
        _ = stop.graceful.cancelled() => End::Cancelled("cancelled"),
        _ = stop.hard.cancelled() => End::Cancelled("killed"),
    };
    if !matches!(end, End::Exited(_)) {
        let grace = ctx.grace.as_secs().clamp(1, i32::MAX as u64) as i32;
        let kill = || {
            tokio::time::timeout(
                CLEANUP_TIMEOUT,
                docker.kill_container(
                    name,
                    Some(KillContainerOptionsBuilder::new().signal("KILL").build()),
                ),
            )
        };
        if stop.hard.is_cancelled() {
            let _ = kill().await;
        } else {
            // Docker sends SIGTERM, waits `t` seconds, then SIGKILL; a second Ctrl-C
            // during that wait kills at once.
            // An engine that does not answer is given the grace period and a
            // little more, then left to the removal below.
            let stopping = tokio::time::timeout(
                ctx.grace + CLEANUP_TIMEOUT,
                docker.stop_container(
                    name,
                    Some(StopContainerOptionsBuilder::new().t(grace).build()),
                ),
            );
            tokio::select! {
                _ = stopping => {}
                _ = stop.hard.cancelled() => {
                    let _ = kill().await;
                }
            }
        }
    }
    // The log stream ends with the container.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), logs).await;
    match end {
        End::Exited(Ok(0)) => Outcome::success(Some(0)),
        End::Exited(Ok(code)) => Outcome::failed(Some(code as i32), format!("exit code {code}")),
        End::Exited(Err(e)) => {
            Outcome::failed(None, format!("waiting for container {name} failed: {e}"))
        }
        End::TimedOut => Outcome::failed(
            None,
            format!(
                "timed out after {}",
                humantime::format_duration(ctx.timeout)
            ),
        ),
        End::Cancelled(why) => Outcome::cancelled(why),
    }
}

/// Copies the container's stdout and stderr into the log as they come, secrets
/// masked (the same masking as a bash task's output).
async fn copy_logs(docker: Docker, name: String, log: TaskLog, lines: Option<(String, LineSink)>) {
    let options = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut stream = docker.logs(&name, Some(options));
    let mut masker = log.masker();
    let mut partial: Vec<u8> = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        let bytes = match &chunk {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message } => message,
            LogOutput::StdIn { .. } => continue,
        };
        let ready = masker.push(bytes);
        emit(&log, &ready, &lines, &mut partial);
    }
    let rest = masker.finish();
    emit(&log, &rest, &lines, &mut partial);
    if let Some((task, sink)) = &lines
        && !partial.is_empty()
    {
        sink(task, &String::from_utf8_lossy(&partial));
    }
}

/// Writes masked output to the log and hands its complete lines on.
fn emit(log: &TaskLog, bytes: &[u8], lines: &Option<(String, LineSink)>, partial: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    // A failure stops the run (the log reports it as a fault of the host).
    let _ = log.write(bytes);
    if let Some((task, sink)) = lines {
        partial.extend_from_slice(bytes);
        while let Some(nl) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=nl).collect();
            sink(
                task,
                String::from_utf8_lossy(&line[..line.len() - 1]).as_ref(),
            );
        }
    }
}

/// Removes the container: explicitly at the end of an attempt, or from `Drop` if the
/// attempt's future is dropped half way.
struct Remover {
    docker: Docker,
    name: String,
    armed: bool,
}

impl Remover {
    async fn remove(mut self) {
        self.armed = false;
        remove(&self.docker, &self.name).await;
    }
}

async fn remove(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    // Bounded: an engine that does not answer leaves the container to the reaper.
    let _ = tokio::time::timeout(
        CLEANUP_TIMEOUT,
        docker.remove_container(name, Some(options)),
    )
    .await;
}

impl Drop for Remover {
    fn drop(&mut self) {
        if self.armed
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let (docker, name) = (self.docker.clone(), self.name.clone());
            handle.spawn(async move { remove(&docker, &name).await });
        }
    }
}

/// Removes every container labelled with the reaper `token`: what the reaper runs, as
/// `dag __reap-containers TOKEN PID`, once a `dag` that started containers is gone
/// (then it removes that `dag`'s private temp directories again). A
/// create request still in flight when `dag` died may land after the first pass, so
/// it looks three times, a second apart.
pub fn reap_containers(token: &str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        // The engine the dag that started the containers used.
        let Ok(client) = connect(&docker_host()) else {
            return;
        };
        // An older daemon refuses the client's default API version.
        let docker = match client.clone().negotiate_version().await {
            Ok(negotiated) => negotiated,
            Err(_) => client,
        };
        let filters = HashMap::from([("label", vec![format!("{}.{token}", reaper::SCOPE_LABEL)])]);
        for pass in 0..3 {
            if pass > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            let options = ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build();
            let Ok(found) = docker.list_containers(Some(options)).await else {
                continue;
            };
            for id in found.into_iter().filter_map(|c| c.id) {
                remove(&docker, &id).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_defaults_fill_only_what_the_task_leaves_open() {
        let spec = |image: &str, memory_mb: Option<u64>| DockerSpec {
            image: image.into(),
            command: None,
            volumes: vec!["/in:/in:ro".into()],
            memory_mb,
            cpu_quota: None,
            network: None,
            pull: PullPolicy::Never,
        };
        let defaults = DockerDefaults {
            image: Some("base:1".into()),
            network: Some("backend".into()),
            memory_mb: Some(64),
            cpu_quota: Some(50),
            volumes: vec!["/data:/data".into()],
        };
        let filled = defaults.apply(&spec("", None)).unwrap();
        assert_eq!(filled.image, "base:1");
        assert_eq!(filled.network.as_deref(), Some("backend"));
        assert_eq!((filled.memory_mb, filled.cpu_quota), (Some(64), Some(50)));
        assert_eq!(filled.volumes, ["/data:/data", "/in:/in:ro"]);
        let mut overlapping = spec("", None);
        overlapping.volumes = vec!["/mine:/data:ro".into()];
        let filled = defaults.apply(&overlapping).unwrap();
        assert_eq!(filled.volumes, ["/mine:/data:ro"]);
        let own = defaults.apply(&spec("mine:2", Some(32))).unwrap();
        assert_eq!((own.image.as_str(), own.memory_mb), ("mine:2", Some(32)));
        let none = DockerDefaults::default()
            .apply(&spec("", None))
            .unwrap_err();
        assert!(none.contains("no default image (--docker-image)"), "{none}");
    }

    #[test]
    fn issue_13_volumes_resolve_inside_the_allowed_paths_and_networks_are_named() {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::os::unix::fs::symlink(allowed.join("sub"), allowed.join("link")).unwrap();
        let policy = DockerPolicy {
            volumes: Some(vec![allowed.clone()]),
            networks: Some(vec!["bridge".into(), "host".into()]),
        };
        let spec = |volume: String, network: Option<&str>| DockerSpec {
            image: "x".into(),
            command: None,
            volumes: vec![volume],
            memory_mb: None,
            cpu_quota: None,
            network: network.map(str::to_string),
            pull: PullPolicy::Never,
        };
        let a = allowed.display();
        // A symlink that stays inside is mounted as the path it resolves to.
        let admitted = policy
            .admit(&spec(format!("{a}/link:/x:ro"), Some("host")))
            .unwrap();
        let real = std::fs::canonicalize(allowed.join("sub")).unwrap();
        assert_eq!(admitted.volumes, [format!("{}:/x:ro", real.display())]);
        let why = policy
            .admit(&spec(format!("{a}/sub:/x"), Some("container:db")))
            .unwrap_err();
        assert!(
            why.contains("network `container:db` is not allowed on this worker (--allow-network bridge, host)"),
            "{why}"
        );
        let missing = policy
            .admit(&spec(format!("{a}/nope:/x"), None))
            .unwrap_err();
        assert!(missing.contains("cannot resolve"), "{missing}");
        // A checked path whose component becomes a symlink is not pinned: the
        // runner refuses to give it to the engine.
        let checked = real.display().to_string();
        std::fs::rename(allowed.join("sub"), root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink("/", allowed.join("sub")).unwrap();
        let prefixes = [std::fs::canonicalize(&allowed).unwrap()];
        let why = pin(&checked, &prefixes, "t").err().unwrap();
        assert!(
            why.contains("its component sub became a symbolic link) after it was checked"),
            "{why}"
        );
        assert!(
            DockerPolicy::default()
                .admit(&spec("/etc:/e".into(), Some("host")))
                .is_ok()
        );
    }

    #[test]
    fn issue_13_tcp_addresses_get_the_docker_cli_default_port() {
        assert_eq!(with_default_port("tcp://h", false), "tcp://h:2375");
        assert_eq!(with_default_port("tcp://h", true), "tcp://h:2376");
        assert_eq!(with_default_port("https://h/", false), "https://h:2376/");
        assert_eq!(with_default_port("tcp://[::1]", false), "tcp://[::1]:2375");
        for kept in [
            "tcp://h:1234",
            "tcp://[::1]:9",
            "unix:///var/run/docker.sock",
        ] {
            assert_eq!(with_default_port(kept, true), kept);
        }
    }

    #[test]
    fn issue_13_garbage_tls_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let [ca, cert, key] = ["ca.pem", "cert.pem", "key.pem"].map(|f| dir.path().join(f));
        for f in [&ca, &cert, &key] {
            std::fs::write(f, "not a pem file\n").unwrap();
        }
        let why = check_pem(&ca, &cert, &key).unwrap_err();
        assert!(
            why.contains(&format!("the certificate file {} is invalid", ca.display())),
            "{why}"
        );
    }

    #[test]
    fn issue_13_transport_errors_keep_their_causes() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let outer = DockerError::IOError { err: refused };
        assert!(
            with_causes(&outer).contains("Connection refused"),
            "{}",
            with_causes(&outer)
        );
    }

    #[test]
    fn names_are_valid_docker_names() {
        assert_eq!(
            container_name("20261126T0000Z-ab", "load.db", 2),
            "dag-20261126T0000Z-ab-load.db-2"
        );
    }

    #[test]
    fn volume_specs() {
        assert!(check_volume("/srv/etl:/data:ro").is_ok());
        assert!(check_volume("/a:/b").is_ok());
        assert!(check_volume("named:/b").is_ok());
        assert!(check_volume("/a").unwrap_err().contains("two or three"));
        assert!(check_volume("/a:b").unwrap_err().contains("absolute"));
        assert!(
            check_volume("/a:/b:rx")
                .unwrap_err()
                .contains("unknown option `rx`")
        );
        assert!(check_volume(":/b").unwrap_err().contains("empty"));
    }

    #[test]
    fn image_references() {
        assert_eq!(split_image("python:3.11-slim"), ("python", "3.11-slim"));
        assert_eq!(split_image("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(
            split_image("localhost:5000/app:v1"),
            ("localhost:5000/app", "v1")
        );
    }
}
