//! What each task type adds to the common keys: fn, http and docker tasks.

use crate::engine::format;
use crate::engine::spec::{DockerSpec, GrantedDir, HttpSpec, PullPolicy, TaskKind, WasmSpec};
use crate::engine::suggest::did_you_mean;
use crate::engine::yaml::Node;

use super::Problem;
use super::checker::{Checker, Entries, nul_problem, value};
use super::dag::Defaults;

impl Checker<'_, '_> {
    pub(super) fn missing(&mut self, key: &Node, value: Option<&Node>, message: &str) {
        let span = value.map_or(key.span, |v| v.span);
        self.report(Problem::at(span, message.to_string(), "here"));
    }

    pub(super) fn fn_kind(
        &mut self,
        key: &Node,
        cmd_node: Option<&Node>,
        command: Option<String>,
        what: &str,
    ) -> Option<TaskKind> {
        let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
            self.missing(
                key,
                cmd_node,
                &format!(
                    "`command` is required for fn {what}: the function name and its arguments"
                ),
            );
            return None;
        };
        let command = command.trim();
        let (name, args) = match command.split_once(char::is_whitespace) {
            Some((n, a)) => (n.to_string(), a.trim().to_string()),
            None => (command.to_string(), String::new()),
        };
        if let (Some(known), Some(node)) = (&self.options.functions, cmd_node)
            && !known.contains(&name)
        {
            let help = match did_you_mean(&name, known.iter().map(String::as_str)) {
                Some(hint) => format!("{hint} registered functions: {}", known.join(", ")),
                None => format!("registered functions: {}", known.join(", ")),
            };
            let span = self.narrow(node, &name);
            self.report(
                Problem::at(span, format!("unknown function `{name}`"), "not registered")
                    .help(help),
            );
            return None;
        }
        Some(TaskKind::Fn { name, args })
    }

    pub(super) fn http_kind(
        &mut self,
        key: &Node,
        entries: &Entries<'_>,
        command: Option<String>,
        what: &str,
    ) -> Option<TaskKind> {
        let get = |k: &str| value(entries, k);
        let cmd_node = get("command");
        let mut headers = match get("headers") {
            Some(v) => self.string_map(v, "headers", true)?,
            None => Vec::new(),
        };
        headers.shrink_to_fit();
        let (method, url, body, span) = match (command, get("url")) {
            (Some(_), Some(url_node)) => {
                self.report(
                    Problem::at(
                        url_node.span,
                        format!("{what} has both `command` and `url`"),
                        "second request",
                    )
                    .help(
                        "use either `command: METHOD URL [BODY]` or the `method`/`url`/`body` keys",
                    ),
                );
                return None;
            }
            (Some(c), None) => {
                let node = cmd_node?;
                let c = c.trim();
                let (method, rest) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
                let rest = rest.trim_start();
                let (url, body) = match rest.split_once(char::is_whitespace) {
                    Some((u, b)) => (
                        u.to_string(),
                        Some(b.trim().to_string()).filter(|b| !b.is_empty()),
                    ),
                    None => (rest.to_string(), None),
                };
                (method.to_uppercase(), url, body, node.span)
            }
            (None, Some(url_node)) => {
                let url = self.string(url_node, "url")?;
                let method = match get("method") {
                    Some(m) => self.string(m, "method")?.to_uppercase(),
                    None => "GET".into(),
                };
                let body = match get("body") {
                    Some(b) => self.optional_string(b, "body")?,
                    None => None,
                };
                (method, url, body, url_node.span)
            }
            (None, None) => {
                self.missing(
                    key,
                    None,
                    &format!("{what} needs `command: METHOD URL [BODY]` or `url:`"),
                );
                return None;
            }
        };
        if !format::HTTP_METHODS.contains(&method.as_str()) {
            self.report(
                Problem::at(
                    span,
                    format!("unknown HTTP method `{method}`"),
                    "unknown method",
                )
                .help(format!("one of: {}", format::HTTP_METHODS.join(", "))),
            );
            return None;
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.report(Problem::at(
                span,
                format!(
                    "`{}` is not an http:// or https:// URL",
                    crate::engine::secrets::redact_url(&url)
                ),
                "invalid URL",
            ));
            return None;
        }
        Some(TaskKind::Http(Box::new(HttpSpec {
            method,
            url,
            body,
            headers,
        })))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn docker_kind(
        &mut self,
        key: &Node,
        entries: &Entries<'_>,
        command: Option<String>,
        env: &mut Vec<(String, String)>,
        workdir: &mut Option<String>,
        defaults: &Defaults,
        what: &str,
    ) -> Option<TaskKind> {
        let get = |k: &str| value(entries, k);
        let mut spec = DockerSpec {
            image: defaults.image.clone().unwrap_or_default(),
            command: command.clone(),
            volumes: Vec::new(),
            memory_mb: defaults.memory_mb,
            cpu_quota: defaults.cpu_quota,
            network: defaults.network.clone(),
            pull: defaults.pull,
        };
        // The seed system's form: the whole container spec as a JSON object in
        // `command`.
        if let Some(c) = command
            .as_deref()
            .filter(|c| c.trim_start().starts_with('{'))
        {
            let node = get("command")?;
            match serde_json::from_str::<JsonDocker>(c) {
                Ok(j) if j.has_nul() => {
                    self.report(nul_problem(node.span, "command"));
                    return None;
                }
                Ok(j) => {
                    if let Some(i) = j.image {
                        spec.image = i;
                    }
                    spec.command = j.command;
                    spec.volumes = j.volumes.unwrap_or_default();
                    spec.memory_mb = j.memory_mb.or(spec.memory_mb);
                    spec.cpu_quota = j.cpu_quota.or(spec.cpu_quota);
                    spec.network = j.network.or(spec.network.take());
                    if let Some(p) = j.pull {
                        spec.pull = p;
                    }
                    if let Some(w) = j.workdir {
                        *workdir = Some(w);
                    }
                    env.extend(j.env.unwrap_or_default());
                }
                Err(e) => {
                    self.report(
                        Problem::at(node.span, format!("invalid JSON container spec in `command`: {e}"), "invalid JSON")
                            .help("keys: image, command, env, volumes, memory_mb, cpu_quota, network, workdir, pull"),
                    );
                    return None;
                }
            }
        }
        if let Some(v) = get("image") {
            spec.image = self.string(v, "image")?;
        }
        if let Some(v) = get("volumes") {
            spec.volumes = self
                .string_list(v, "volumes")?
                .into_iter()
                .map(|(s, _)| s)
                .collect();
        }
        if let Some(v) = get("memory_mb") {
            spec.memory_mb = Some(self.uint(v, "memory_mb", u64::MAX / (1 << 20))?);
        }
        if let Some(v) = get("cpu_quota") {
            spec.cpu_quota = Some(self.cpu_quota(v)?);
        }
        if let Some(v) = get("network") {
            spec.network = self.optional_string(v, "network")?;
        }
        if let Some(v) = get("pull") {
            spec.pull = self.pull(v)?;
        }
        if spec.image.trim().is_empty() && !self.options.docker_image_optional {
            self.missing(key, None, &format!("`image` is required for docker {what}"));
            return None;
        }
        Some(TaskKind::Docker(Box::new(spec)))
    }
}

impl Checker<'_, '_> {
    /// The file a task names in `name` (`file` of a dag task, `module` of a
    /// wasm task): required, not empty, and known when the file is loaded (no
    /// task outputs). `what` is the task as problems name it (`dag task
    /// \`deploy\``), `purpose` what the file is (`the sub-DAG file`).
    pub(super) fn file_named<'n>(
        &mut self,
        key: &Node,
        entries: &Entries<'n>,
        name: &str,
        what: &str,
        purpose: &str,
    ) -> Option<(String, &'n Node)> {
        let Some(node) = value(entries, name) else {
            self.missing(
                key,
                None,
                &format!("`{name}` is required for {what}: {purpose} to run"),
            );
            return None;
        };
        let file = self.string(node, name)?;
        if file.trim().is_empty() {
            self.missing(
                key,
                Some(node),
                &format!("`{name}` of {what} is empty: name {purpose} to run"),
            );
            return None;
        }
        if file.contains("${{") {
            self.report(
                Problem::at(node.span, format!("`{name}` cannot use task outputs"), "here").help(
                    format!("{purpose} is read when this file is loaded: name it, or use params, items or matrix values"),
                ),
            );
            return None;
        }
        Some((file, node))
    }

    pub(super) fn wasm_kind(
        &mut self,
        key: &Node,
        entries: &Entries<'_>,
        defaults: &Defaults,
        what: &str,
    ) -> Option<TaskKind> {
        let get = |k: &str| value(entries, k);
        let (module, node) = self.file_named(
            key,
            entries,
            "module",
            &format!("wasm {what}"),
            "the WebAssembly module",
        )?;
        let mut ok = true;
        let pin = match get("sha256") {
            Some(v) => {
                let text = self.string(v, "sha256")?;
                let hex = text
                    .strip_prefix("sha256:")
                    .unwrap_or(&text)
                    .to_ascii_lowercase();
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    self.report(
                        Problem::at(
                            v.span,
                            format!("invalid `sha256` `{text}`"),
                            "not a SHA-256",
                        )
                        .help(
                            "write the module file's SHA-256 as 64 hex digits (`sha256sum FILE`)",
                        ),
                    );
                    ok = false;
                }
                Some((hex, v.span))
            }
            None => None,
        };
        let args = match get("args") {
            Some(v) => self
                .string_list(v, "args")?
                .into_iter()
                .map(|(s, _)| s)
                .collect(),
            None => Vec::new(),
        };
        let stdin = match get("stdin") {
            Some(v) => self.optional_string(v, "stdin")?,
            None => None,
        };
        let mut dirs = Vec::new();
        if let Some(v) = get("dirs") {
            for (dir, span) in self.string_list(v, "dirs")? {
                if dir.contains("${{") {
                    dirs.push(dir);
                    continue;
                }
                match GrantedDir::parse(&dir) {
                    // A relative host directory is in this file's directory,
                    // as `module` is, wherever the task runs from.
                    Ok(g) if !g.host.starts_with('/') => {
                        let host = super::subdag::resolve(self.file, &g.host);
                        let host = std::path::absolute(&host).unwrap_or(host);
                        let rest = dir.split_once(':').map_or("", |(_, r)| r);
                        dirs.push(format!("{}:{rest}", host.display()));
                    }
                    Ok(_) => dirs.push(dir),
                    Err(e) => {
                        self.report(Problem::at(span, e, "here"));
                        ok = false;
                    }
                }
            }
        }
        let memory_mb = match get("memory_mb") {
            Some(v) => {
                let mb = self.uint(v, "memory_mb", format::WASM_MAX_MEMORY_MB)?;
                if mb == 0 {
                    self.report(
                        Problem::at(
                            v.span,
                            "`memory_mb` of a wasm task must be at least 1",
                            "here",
                        )
                        .help(format!(
                            "it is the most linear memory the module may use (1–{})",
                            format::WASM_MAX_MEMORY_MB
                        )),
                    );
                    return None;
                }
                mb
            }
            // A docker default over what a module can address leaves wasm tasks
            // at the most they can use.
            None => defaults
                .memory_mb
                .filter(|mb| *mb > 0)
                .map_or(format::WASM_MEMORY_MB, |mb| {
                    mb.min(format::WASM_MAX_MEMORY_MB)
                }),
        };
        let path = super::subdag::resolve(self.file, &module);
        let sha256 = match crate::engine::spec::read_module(&path) {
            Ok((_, sha)) => sha,
            Err(e) => {
                self.report(
                    Problem::at(node.span, e, "here")
                        .help("`module` is relative to the directory of the file that names it"),
                );
                return None;
            }
        };
        if let Some((pin, span)) = pin
            && ok
            && pin != sha256
        {
            self.report(
                Problem::at(
                    span,
                    format!(
                        "the module {} has SHA-256 {sha256}, not the one pinned",
                        path.display()
                    ),
                    "pinned here",
                )
                .help("the module changed since it was pinned: pin the new one's, or restore the module"),
            );
            return None;
        }
        ok.then(|| {
            TaskKind::Wasm(Box::new(WasmSpec {
                module,
                path: path.display().to_string(),
                sha256,
                args,
                stdin,
                dirs,
                memory_mb,
                inline: None,
            }))
        })
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDocker {
    image: Option<String>,
    command: Option<String>,
    env: Option<std::collections::BTreeMap<String, String>>,
    volumes: Option<Vec<String>>,
    memory_mb: Option<u64>,
    cpu_quota: Option<u64>,
    network: Option<String>,
    workdir: Option<String>,
    pull: Option<PullPolicy>,
}

impl JsonDocker {
    /// Whether any string of the spec holds a NUL character.
    fn has_nul(&self) -> bool {
        let strings = [&self.image, &self.command, &self.network, &self.workdir];
        strings
            .iter()
            .any(|s| s.as_deref().is_some_and(|s| s.contains('\0')))
            || self
                .env
                .iter()
                .flatten()
                .any(|(k, v)| k.contains('\0') || v.contains('\0'))
            || self.volumes.iter().flatten().any(|v| v.contains('\0'))
    }
}
