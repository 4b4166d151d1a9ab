//! Docker stack files (compose file format v3, as `docker stack deploy` reads them) to
//! topology services.
//!
//! What a topology models is imported: image, kind, placement constraints, replicas or
//! global mode, restart policy, health-check timing, host-mode published ports, stop
//! grace period and `depends_on`. Every other key is listed in [`Import::unmodelled`]
//! with the reason, so nothing is dropped silently. The service kind is told from the
//! image and the command (`milvus run querynode`, `bin/pulsar bookie`, `etcd
//! grpc-proxy`); a service can name it with the extension key `x-simctl-kind`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::marked_yaml::{self, Node, Value};
use crate::engine::SimDuration;
use crate::scenario::error::{InputError, InputErrors};
use crate::scenario::topology::{Constraint, RestartCondition, ServiceKind, ServiceMode};

/// A stack file as read.
pub struct StackFile {
    pub path: PathBuf,
    pub text: String,
}

/// `deploy.restart_policy` as written: absent keys stay `None` (Swarm's defaults).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportedRestart {
    pub condition: Option<RestartCondition>,
    pub delay: Option<SimDuration>,
    pub max_attempts: Option<u32>,
    pub window: Option<SimDuration>,
}

/// `healthcheck` timing as written: absent keys stay `None` (Docker's defaults).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportedHealthcheck {
    pub interval: Option<SimDuration>,
    pub timeout: Option<SimDuration>,
    pub retries: Option<u32>,
    pub start_period: Option<SimDuration>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportedService {
    pub name: String,
    pub kind: ServiceKind,
    pub image: String,
    /// The stack file's name without extension.
    pub stack: String,
    pub mode: ServiceMode,
    pub constraints: Vec<String>,
    pub restart_policy: Option<ImportedRestart>,
    pub healthcheck: Option<ImportedHealthcheck>,
    pub ports: Vec<u16>,
    pub stop_grace_period: Option<SimDuration>,
    pub depends_on: Vec<String>,
    /// The configuration files the service mounts that the import reads.
    pub configs: Vec<ConfigMount>,
}

/// Which configuration file a mount carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigKind {
    /// An nginx.conf mounted into an nginx service: `[nginx]`.
    Nginx,
    /// A milvus.yaml mounted into a Milvus service: `[milvus]`.
    Milvus,
}

impl ConfigKind {
    /// The configuration a bind mount into `target` of a service of `kind` carries.
    fn of_mount(kind: ServiceKind, target: &str) -> Option<ConfigKind> {
        if kind == ServiceKind::Nginx
            && target.starts_with("/etc/nginx/")
            && target.ends_with(".conf")
        {
            Some(ConfigKind::Nginx)
        } else if kind.is_milvus() && target.rsplit('/').next() == Some("milvus.yaml") {
            Some(ConfigKind::Milvus)
        } else {
            None
        }
    }
}

/// A bind mount of a configuration file the import reads.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigMount {
    pub kind: ConfigKind,
    /// The host path as written in the stack file (`./nginx.conf`), relative to it.
    pub source: String,
    /// The stack file and line of the mount.
    pub file: PathBuf,
    pub line: usize,
}

/// A bind mount: the host path, the path in the container and the line.
struct Mount {
    source: String,
    target: String,
    line: usize,
}

/// A key of a stack file that the topology does not model.
#[derive(Clone, Debug, PartialEq)]
pub struct Unmodelled {
    pub file: PathBuf,
    pub line: usize,
    /// Dotted path below the service (`deploy.resources`), or the top-level key.
    pub key: String,
    /// `None` for a top-level key.
    pub service: Option<String>,
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Import {
    pub services: Vec<ImportedService>,
    pub unmodelled: Vec<Unmodelled>,
}

impl Import {
    /// The unmodelled keys, one line per file, key and reason, with the services that
    /// use it: `etcd-minio.yaml:7: volumes (minio1, minio2): not modelled: ...`.
    pub fn report(&self) -> Vec<String> {
        report_lines(&self.unmodelled)
    }
}

/// Unmodelled entries, one line per file, key and reason, with the services that use
/// it, in the order first met.
pub fn report_lines(unmodelled: &[Unmodelled]) -> Vec<String> {
    let mut groups: BTreeMap<(PathBuf, String, String), (usize, Vec<String>)> = BTreeMap::new();
    let mut order = Vec::new();
    for u in unmodelled {
        let k = (u.file.clone(), u.key.clone(), u.why.clone());
        let entry = groups.entry(k.clone()).or_insert_with(|| {
            order.push(k.clone());
            (u.line, Vec::new())
        });
        if let Some(s) = &u.service {
            if !entry.1.contains(s) {
                entry.1.push(s.clone());
            }
        }
    }
    order
        .iter()
        .map(|k| {
            let (line, services) = &groups[k];
            let file = k.0.file_name().unwrap_or(k.0.as_os_str()).to_string_lossy();
            let who = if services.is_empty() {
                String::new()
            } else {
                format!(" ({})", services.join(", "))
            };
            format!("{file}:{line}: {}{who}: {}", k.1, k.2)
        })
        .collect()
}

/// Reads the services of stack files, in file order.
pub fn import(files: &[StackFile]) -> Result<Import, InputErrors> {
    let mut out = Import::default();
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
    for f in files {
        let mut cx = Cx {
            file: &f.path,
            errors: &mut errors,
            unmodelled: &mut out.unmodelled,
        };
        let doc = match marked_yaml::parse(&f.text) {
            Ok(d) => d,
            Err(e) => {
                cx.errors.push(InputError {
                    file: f.path.clone(),
                    line: e.line,
                    column: e.column,
                    message: format!("this stack file is not valid YAML: {}", e.message),
                    hint: Some("check the indentation and quoting near this line".into()),
                });
                continue;
            }
        };
        let Some(top) = doc.as_map() else {
            cx.error(
                &doc,
                format!(
                    "a stack file is a mapping with `services`, not {}",
                    doc.describe()
                ),
                "start with `version: '3.7'` and `services:`",
            );
            continue;
        };
        let stack = f
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut found_services = false;
        for (k, v) in top {
            match k.as_str().unwrap_or("") {
                "version" => {}
                "services" => {
                    found_services = true;
                    let Some(services) = v.as_map() else {
                        cx.error(
                            v,
                            format!(
                                "`services` is {}, not a mapping of service names",
                                v.describe()
                            ),
                            "write `services:` followed by indented service names",
                        );
                        continue;
                    };
                    for (name, body) in services {
                        let Some(name_str) = name.as_str() else {
                            cx.error(name, "a service name must be a string".into(), "");
                            continue;
                        };
                        if let Some((file, line)) = seen.get(name_str) {
                            cx.error(
                                name,
                                format!("service {name_str:?} is declared twice"),
                                &format!(
                                    "the first declaration is at {}:{line}; service names must be unique across the stack files",
                                    file.display()
                                ),
                            );
                            continue;
                        }
                        seen.insert(name_str.to_string(), (f.path.clone(), name.line));
                        if let Some(s) = cx.service(name_str, name, body, &stack) {
                            out.services.push(s);
                        }
                    }
                }
                "networks" => cx.unmodelled(k, None, "top-level networks", WHY_NETWORKS),
                key => {
                    let why = if key.starts_with("x-") {
                        "extension field: not read itself; anchors in it apply where aliased"
                    } else {
                        "not modelled"
                    };
                    cx.unmodelled(k, None, &format!("top-level {key}"), why)
                }
            }
        }
        if !found_services {
            cx.error(
                &doc,
                "the stack file has no `services`".into(),
                "a stack file lists its services under `services:`",
            );
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(InputErrors(errors))
    }
}

const WHY_NETWORKS: &str =
    "not modelled: all services share one network, whose latency is the topology's [network]";

fn why_service_key(key: &str) -> &'static str {
    match key {
        "hostname" => "not modelled: tasks are named by their service",
        "hostname (shared)" => "not modelled, and shared by all tasks of a service that runs several: a component advertising it (the broker, reference §6.5) cannot be told apart from its twins",
        "volumes" => "not modelled: host paths and their data; disks come from the host class",
        "networks" => WHY_NETWORKS,
        "environment" | "env_file" => "not modelled: settings passed in the environment (JVM heaps, etcd quotas, Pulsar settings) are not read",
        "user" | "working_dir" | "labels" | "logging" | "ulimits" | "sysctls" | "cap_add" | "cap_drop" | "privileged" | "init" => "not modelled",
        "deploy.resources" => "not modelled: no CPU or memory limits or reservations; the service shares its host's capacity",
        "deploy.placement.preferences" => "not modelled: tasks spread over all eligible hosts",
        "deploy.placement.max_replicas_per_node" => "not modelled: only host-mode ports keep replicas apart",
        "deploy.update_config" | "deploy.rollback_config" => "not modelled: rolling updates are not simulated",
        "deploy.endpoint_mode" | "deploy.labels" => "not modelled",
        "ports (ingress)" => "not modelled: ingress-mode ports go through the routing mesh, which any host can serve",
        "depends_on" => "ignored by `docker stack deploy`; imported as a start-order wait, as the users deploy in stages by hand",
        "healthcheck.test" => "the probe command is not run: a probe passes once the process serves, and only the probes' timing is modelled",
        "healthcheck.start_interval" => "not modelled: probes run every `interval` from the start",
        k if k.starts_with("x-") => "extension field, ignored",
        _ => "not modelled",
    }
}

struct Cx<'a> {
    file: &'a Path,
    errors: &'a mut Vec<InputError>,
    unmodelled: &'a mut Vec<Unmodelled>,
}

impl Cx<'_> {
    fn error(&mut self, at: &Node, message: String, hint: &str) {
        self.errors.push(InputError {
            file: self.file.to_path_buf(),
            line: at.line,
            column: at.column,
            message,
            hint: (!hint.is_empty()).then(|| hint.to_string()),
        });
    }

    fn unmodelled(&mut self, at: &Node, service: Option<&str>, key: &str, why: &str) {
        self.unmodelled.push(Unmodelled {
            file: self.file.to_path_buf(),
            line: at.line,
            key: key.to_string(),
            service: service.map(str::to_string),
            why: why.to_string(),
        });
    }

    /// The entries of a mapping key (none when empty); an error when it is no mapping.
    fn map<'n>(&mut self, service: &str, key: &str, v: &'n Node) -> &'n [(Node, Node)] {
        match &v.value {
            Value::Map(m) => m,
            Value::Null => &[],
            _ => {
                self.error(
                    v,
                    format!(
                        "service {service:?}: {key} is {}, not a mapping",
                        v.describe()
                    ),
                    "indent its keys below it",
                );
                &[]
            }
        }
    }

    fn duration(&mut self, service: &str, key: &str, v: &Node) -> Option<SimDuration> {
        match v.as_str().map(parse_go_duration) {
            Some(Ok(d)) => Some(d),
            _ => {
                self.error(
                    v,
                    format!("service {service:?}: {key} is not a duration"),
                    "write a duration with its unit, as Docker does: \"10s\", \"1m30s\", \"500ms\"",
                );
                None
            }
        }
    }

    fn count(&mut self, service: &str, key: &str, v: &Node, min: i64) -> Option<u32> {
        match v.as_i64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if i64::from(n) >= min => Some(n),
            _ => {
                self.error(
                    v,
                    format!("service {service:?}: {key} must be a whole number of at least {min}"),
                    "",
                );
                None
            }
        }
    }

    fn service(
        &mut self,
        name: &str,
        at: &Node,
        body: &Node,
        stack: &str,
    ) -> Option<ImportedService> {
        let Some(entries) = body.as_map() else {
            self.error(
                body,
                format!("service {name:?} is {}, not a mapping", body.describe()),
                "indent the service's keys below its name",
            );
            return None;
        };
        let mut image = None;
        let mut command = String::new();
        let mut kind_override = None;
        let mut hostname = None;
        let mut svc = ImportedService {
            name: name.to_string(),
            kind: ServiceKind::Proxy,
            image: String::new(),
            stack: stack.to_string(),
            mode: ServiceMode::Replicated(1),
            constraints: vec![],
            restart_policy: None,
            healthcheck: None,
            ports: vec![],
            stop_grace_period: None,
            depends_on: vec![],
            configs: vec![],
        };
        let mut volumes = None;
        let errors_before = self.errors.len();
        for (k, v) in entries {
            let key = k.as_str().unwrap_or("");
            match key {
                "image" => image = v.as_str().map(str::to_string),
                "command" | "entrypoint" => {
                    command.push(' ');
                    command.push_str(&words(v));
                }
                "x-simctl-kind" => kind_override = Some(v),
                "deploy" => self.deploy(name, v, &mut svc),
                "healthcheck" => svc.healthcheck = self.healthcheck(name, v),
                "ports" => self.ports(name, v, &mut svc.ports),
                "stop_grace_period" => svc.stop_grace_period = self.duration(name, key, v),
                "depends_on" => {
                    svc.depends_on = match &v.value {
                        Value::Seq(items) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                        Value::Map(m) => m
                            .iter()
                            .filter_map(|(k, _)| k.as_str().map(str::to_string))
                            .collect(),
                        _ => {
                            self.error(
                                v,
                                format!("service {name:?}: depends_on is {}", v.describe()),
                                "list service names",
                            );
                            vec![]
                        }
                    };
                    self.unmodelled(k, Some(name), key, why_service_key(key));
                }
                "hostname" => hostname = Some(k),
                "volumes" => {
                    // Reported in key order; taken back below if it only mounts
                    // configuration files the import reads.
                    volumes = Some((self.unmodelled.len(), v));
                    self.unmodelled(k, Some(name), key, why_service_key(key));
                }
                _ => self.unmodelled(k, Some(name), key, why_service_key(key)),
            }
        }
        let Some(image) = image else {
            self.error(
                at,
                format!("service {name:?} has no image"),
                "every service of a stack needs `image:`",
            );
            return None;
        };
        svc.image = image;
        if let Some(k) = hostname {
            let key = match svc.mode {
                ServiceMode::Replicated(n) if n <= 1 => "hostname",
                _ => "hostname (shared)",
            };
            self.unmodelled(k, Some(name), key, why_service_key(key));
        }
        svc.kind = match kind_override {
            Some(v) => match v.as_str().and_then(kind_by_name) {
                Some(k) => k,
                None => {
                    self.error(
                        v,
                        format!(
                            "service {name:?}: x-simctl-kind {:?} is not a kind simctl knows",
                            v.as_str().unwrap_or("")
                        ),
                        &format!(
                            "use one of: {}",
                            ServiceKind::ALL
                                .iter()
                                .map(|k| k.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    return None;
                }
            },
            None => match infer_kind(&svc.image, &command) {
                Ok(k) => k,
                Err(why) => {
                    self.error(
                        at,
                        format!("service {name:?}: {why}"),
                        &format!(
                            "add `x-simctl-kind: KIND` to the service, KIND one of: {}",
                            ServiceKind::ALL
                                .iter()
                                .map(|k| k.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    return None;
                }
            },
        };
        if let Some((report_at, v)) = volumes {
            let (mounts, others) = bind_mounts(v);
            let count = mounts.len();
            for m in mounts {
                if let Some(kind) = ConfigKind::of_mount(svc.kind, &m.target) {
                    svc.configs.push(ConfigMount {
                        kind,
                        source: m.source,
                        file: self.file.to_path_buf(),
                        line: m.line,
                    });
                }
            }
            // Data directories, named volumes and other files stay unmodelled.
            if others == 0 && svc.configs.len() == count {
                self.unmodelled.remove(report_at);
            }
        }
        (self.errors.len() == errors_before).then_some(svc)
    }

    fn deploy(&mut self, name: &str, deploy: &Node, svc: &mut ImportedService) {
        let Some(entries) = deploy.as_map() else {
            self.error(
                deploy,
                format!(
                    "service {name:?}: deploy is {}, not a mapping",
                    deploy.describe()
                ),
                "",
            );
            return;
        };
        let mut replicas = None;
        let mut global = false;
        for (k, v) in entries {
            let key = k.as_str().unwrap_or("");
            match key {
                "replicas" => replicas = self.count(name, "deploy.replicas", v, 0),
                "mode" => match v.as_str() {
                    Some("global") => global = true,
                    Some("replicated") => {}
                    _ => self.error(
                        v,
                        format!(
                            "service {name:?}: deploy.mode {:?} is not supported",
                            v.as_str().unwrap_or("")
                        ),
                        "mode is \"replicated\" or \"global\"",
                    ),
                },
                "placement" => {
                    for (pk, pv) in self.map(name, "deploy.placement", v) {
                        let pkey = pk.as_str().unwrap_or("");
                        if pkey == "constraints" {
                            let Value::Seq(items) = &pv.value else {
                                self.error(
                                    pv,
                                    format!(
                                        "service {name:?}: placement constraints must be a list"
                                    ),
                                    "",
                                );
                                continue;
                            };
                            for c in items {
                                let s = c.as_str().unwrap_or("");
                                match Constraint::parse(s) {
                                    Ok(parsed) => svc.constraints.push(parsed.to_string()),
                                    Err(m) => self.error(c, format!("service {name:?}: {m}"), "write it as Swarm does, e.g. node.labels.query1==true or node.role==manager"),
                                }
                            }
                        } else {
                            let path = format!("deploy.placement.{pkey}");
                            self.unmodelled(pk, Some(name), &path, why_service_key(&path));
                        }
                    }
                }
                "restart_policy" => {
                    let mut r = ImportedRestart::default();
                    for (rk, rv) in self.map(name, "deploy.restart_policy", v) {
                        match rk.as_str().unwrap_or("") {
                            "condition" => {
                                r.condition = match rv.as_str() {
                                    Some("any") => Some(RestartCondition::Any),
                                    Some("on-failure") => Some(RestartCondition::OnFailure),
                                    Some("none") => Some(RestartCondition::None),
                                    _ => {
                                        self.error(rv, format!("service {name:?}: restart condition {:?} is not one Swarm knows", rv.as_str().unwrap_or("")), "condition is any, on-failure or none");
                                        None
                                    }
                                }
                            }
                            "delay" => r.delay = self.duration(name, "restart_policy.delay", rv),
                            "max_attempts" => {
                                r.max_attempts =
                                    self.count(name, "restart_policy.max_attempts", rv, 0)
                            }
                            "window" => r.window = self.duration(name, "restart_policy.window", rv),
                            other => {
                                let path = format!("deploy.restart_policy.{other}");
                                self.unmodelled(rk, Some(name), &path, why_service_key(&path));
                            }
                        }
                    }
                    svc.restart_policy = Some(r);
                }
                other => {
                    let path = format!("deploy.{other}");
                    self.unmodelled(k, Some(name), &path, why_service_key(&path));
                }
            }
        }
        svc.mode = match (global, replicas) {
            (true, Some(_)) => {
                self.error(
                    deploy,
                    format!("service {name:?} sets both deploy.replicas and mode: global"),
                    "a global service runs one task on every eligible host; drop `replicas`",
                );
                ServiceMode::Global
            }
            (true, None) => ServiceMode::Global,
            (false, r) => ServiceMode::Replicated(r.unwrap_or(1)),
        };
    }

    fn healthcheck(&mut self, name: &str, v: &Node) -> Option<ImportedHealthcheck> {
        let mut h = ImportedHealthcheck::default();
        let mut disabled = false;
        for (k, hv) in self.map(name, "healthcheck", v) {
            let key = k.as_str().unwrap_or("");
            match key {
                "test" => {
                    disabled |= words(hv).trim() == "NONE";
                    self.unmodelled(
                        k,
                        Some(name),
                        "healthcheck.test",
                        why_service_key("healthcheck.test"),
                    );
                }
                "disable" => disabled |= hv.as_str() == Some("true"),
                "interval" => h.interval = self.duration(name, "healthcheck.interval", hv),
                "timeout" => h.timeout = self.duration(name, "healthcheck.timeout", hv),
                "start_period" => {
                    h.start_period = self.duration(name, "healthcheck.start_period", hv)
                }
                "retries" => h.retries = self.count(name, "healthcheck.retries", hv, 1),
                other => {
                    let path = format!("healthcheck.{other}");
                    self.unmodelled(k, Some(name), &path, why_service_key(&path));
                }
            }
        }
        (!disabled).then_some(h)
    }

    fn ports(&mut self, name: &str, v: &Node, ports: &mut Vec<u16>) {
        let Value::Seq(items) = &v.value else {
            self.error(v, format!("service {name:?}: ports must be a list"), "");
            return;
        };
        for p in items {
            match &p.value {
                Value::Map(_) => {
                    let host_mode = p.get("mode").and_then(Node::as_str) == Some("host");
                    let published = p.get("published").or(p.get("target"));
                    if !host_mode {
                        self.unmodelled(
                            p,
                            Some(name),
                            "ports (ingress)",
                            why_service_key("ports (ingress)"),
                        );
                        continue;
                    }
                    match published.and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok())).and_then(|n| u16::try_from(n).ok()) {
                        Some(port) if port > 0 => {
                            if !ports.contains(&port) {
                                ports.push(port)
                            }
                        }
                        _ => self.error(p, format!("service {name:?}: a host-mode port needs a published port between 1 and 65535"), "write `published: 19530`"),
                    }
                }
                // Short syntax ("19530:19530") publishes through the ingress routing mesh.
                Value::Scalar { .. } => self.unmodelled(
                    p,
                    Some(name),
                    "ports (ingress)",
                    why_service_key("ports (ingress)"),
                ),
                _ => self.error(
                    p,
                    format!("service {name:?}: a port is {}", p.describe()),
                    "",
                ),
            }
        }
    }
}

/// The bind mounts of a service's `volumes` (short `./a:/b:ro` or long syntax), and
/// the number of other entries (named volumes, tmpfs, anything unreadable).
fn bind_mounts(volumes: &Node) -> (Vec<Mount>, usize) {
    let Value::Seq(items) = &volumes.value else {
        return (vec![], 1);
    };
    let is_path = |s: &str| s.starts_with(['/', '.', '~']);
    let mut mounts = Vec::new();
    for item in items {
        let mount = match &item.value {
            Value::Scalar { text, .. } => {
                let mut parts = text.splitn(3, ':');
                match (parts.next(), parts.next()) {
                    (Some(src), Some(dst)) if is_path(src) => Some((src, dst)),
                    _ => None,
                }
            }
            Value::Map(_) => match (
                item.get("type").and_then(Node::as_str),
                item.get("source").and_then(Node::as_str),
                item.get("target").and_then(Node::as_str),
            ) {
                (Some("bind"), Some(src), Some(dst)) => Some((src, dst)),
                _ => None,
            },
            _ => None,
        };
        if let Some((src, dst)) = mount {
            mounts.push(Mount {
                source: src.to_string(),
                target: dst.to_string(),
                line: item.line,
            });
        }
    }
    let others = items.len() - mounts.len();
    (mounts, others)
}

/// A command as one string of words, whether written as a string or a list.
fn words(v: &Node) -> String {
    match &v.value {
        Value::Scalar { text, .. } => text.clone(),
        Value::Seq(items) => items
            .iter()
            .filter_map(Node::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn kind_by_name(s: &str) -> Option<ServiceKind> {
    ServiceKind::ALL.into_iter().find(|k| k.name() == s)
}

/// The kind of a service from its image and command.
pub fn infer_kind(image: &str, command: &str) -> Result<ServiceKind, String> {
    let tokens: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    // Milvus: `milvus run <role>`.
    if let Some(w) = tokens
        .windows(3)
        .find(|w| w[0].ends_with("milvus") && w[1] == "run")
    {
        return match w[2] {
            "proxy" => Ok(ServiceKind::Proxy),
            "rootcoord" => Ok(ServiceKind::Rootcoord),
            "datacoord" => Ok(ServiceKind::Datacoord),
            "querycoord" => Ok(ServiceKind::Querycoord),
            "indexcoord" => Ok(ServiceKind::Indexcoord),
            "querynode" => Ok(ServiceKind::Querynode),
            "datanode" => Ok(ServiceKind::Datanode),
            "indexnode" => Ok(ServiceKind::Indexnode),
            other => Err(format!(
                "`milvus run {other}` is not a role simctl places (a cluster runs proxy, the four coordinators and query, data and index nodes)"
            )),
        };
    }
    // Pulsar: `bin/pulsar <component>`.
    if let Some(w) = tokens.windows(2).find(|w| w[0].ends_with("pulsar")) {
        match w[1] {
            "zookeeper" => return Ok(ServiceKind::Zookeeper),
            "bookie" => return Ok(ServiceKind::Bookie),
            "broker" => return Ok(ServiceKind::Broker),
            _ => {}
        }
    }
    let repo = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split([':', '@'])
        .next()
        .unwrap_or("");
    match repo {
        "etcd" if tokens.contains(&"grpc-proxy") => Ok(ServiceKind::EtcdProxy),
        "etcd" => Ok(ServiceKind::Etcd),
        "minio" => Ok(ServiceKind::Minio),
        "nginx" => Ok(ServiceKind::Nginx),
        "milvus" => Err(format!(
            "image {image:?} runs Milvus, but the command does not say which role (`milvus run <role>`)"
        )),
        "pulsar" | "pulsar-all" => Err(format!(
            "image {image:?} runs Pulsar, but the command runs none of zookeeper, bookie or broker"
        )),
        _ => Err(format!(
            "cannot tell what image {image:?} with command {:?} runs",
            command.trim()
        )),
    }
}

/// A Go duration as Docker writes it: "10s", "1m30s", "500ms", "1h".
pub fn parse_go_duration(s: &str) -> Result<SimDuration, String> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    let mut ns = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{s:?} has a number without a unit"))?;
        let value: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("{s:?} is not a duration"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => return Err(format!("{s:?} has unknown unit {u:?}")),
        };
        ns += value * scale;
        rest = &rest[unit_end..];
    }
    Ok(SimDuration::from_nanos(ns.round() as u64))
}

/// A duration in the topology's notation, exact: "60s", "500ms".
pub fn format_duration(d: SimDuration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// The text of a topology: a header naming the sources and the unmodelled keys, the
/// hosts file without any services of its own, then the imported services.
///
/// `hosts_text` is a topology file with classes and hosts; its `[[service]]` tables,
/// if any, are replaced (the second value returned counts them).
pub fn topology_text(
    hosts_name: &str,
    hosts_text: &str,
    stack_names: &[String],
    import: &Import,
) -> Result<(String, usize), String> {
    let mut doc: toml_edit::DocumentMut = hosts_text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let dropped = match doc.remove("service") {
        Some(item) => item.as_array_of_tables().map(|a| a.len()).unwrap_or(1),
        None => 0,
    };
    let mut out = format!(
        "# Written by `simctl import-stack` from the stack files {} and the hosts of {hosts_name}.\n\
         # Change the stack files and import again rather than editing the services here.\n",
        stack_names.join(", ")
    );
    let report = import.report();
    if report.is_empty() {
        out.push_str("# Every key of the stack files is modelled.\n");
    } else {
        out.push_str("#\n# Keys of the stack files this topology does not model:\n");
        for line in &report {
            out.push_str(&format!("#   {line}\n"));
        }
    }
    out.push('\n');
    out.push_str(doc.to_string().trim_end());
    out.push('\n');
    out.push_str(&render_services(&import.services));
    Ok((out, dropped))
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The imported services as `[[service]]` tables of a topology, grouped by stack.
pub fn render_services(services: &[ImportedService]) -> String {
    let mut out = String::new();
    let mut stack: Option<&str> = None;
    for s in services {
        if stack != Some(&s.stack) {
            out.push_str(&format!("\n# ---- stack {} ----\n", s.stack));
            stack = Some(&s.stack);
        }
        out.push_str("\n[[service]]\n");
        out.push_str(&format!("name = {}\n", toml_str(&s.name)));
        out.push_str(&format!("kind = {}\n", toml_str(s.kind.name())));
        out.push_str(&format!("image = {}\n", toml_str(&s.image)));
        out.push_str(&format!("stack = {}\n", toml_str(&s.stack)));
        match s.mode {
            ServiceMode::Global => out.push_str("mode = \"global\"\n"),
            ServiceMode::Replicated(1) => {}
            ServiceMode::Replicated(n) => out.push_str(&format!("replicas = {n}\n")),
        }
        if !s.constraints.is_empty() {
            out.push_str(&format!("constraints = {}\n", toml_list(&s.constraints)));
        }
        if let Some(r) = &s.restart_policy {
            let mut parts = Vec::new();
            if let Some(c) = r.condition {
                parts.push(format!("condition = {}", toml_str(c.name())));
            }
            if let Some(d) = r.delay {
                parts.push(format!("delay = {}", toml_str(&format_duration(d))));
            }
            if let Some(m) = r.max_attempts {
                parts.push(format!("max_attempts = {m}"));
            }
            if let Some(w) = r.window {
                parts.push(format!("window = {}", toml_str(&format_duration(w))));
            }
            out.push_str(&format!("restart_policy = {{ {} }}\n", parts.join(", ")));
        }
        if let Some(h) = &s.healthcheck {
            let mut parts = Vec::new();
            for (k, d) in [("interval", h.interval), ("timeout", h.timeout)] {
                if let Some(d) = d {
                    parts.push(format!("{k} = {}", toml_str(&format_duration(d))));
                }
            }
            if let Some(r) = h.retries {
                parts.push(format!("retries = {r}"));
            }
            if let Some(d) = h.start_period {
                parts.push(format!("start_period = {}", toml_str(&format_duration(d))));
            }
            out.push_str(&format!("healthcheck = {{ {} }}\n", parts.join(", ")));
        }
        if !s.ports.is_empty() {
            let ports: Vec<String> = s.ports.iter().map(|p| p.to_string()).collect();
            out.push_str(&format!("ports = [{}]\n", ports.join(", ")));
        }
        if let Some(g) = s.stop_grace_period {
            out.push_str(&format!(
                "stop_grace_period = {}\n",
                toml_str(&format_duration(g))
            ));
        }
        if !s.depends_on.is_empty() {
            out.push_str(&format!("depends_on = {}\n", toml_list(&s.depends_on)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Import, InputErrors> {
        import(&[StackFile {
            path: PathBuf::from("stack.yaml"),
            text: text.to_string(),
        }])
    }

    #[test]
    fn kinds_from_image_and_command() {
        assert_eq!(
            infer_kind(
                "milvus:v2.3.0",
                "bash -c \"sleep 5 && milvus run querynode\"\n"
            ),
            Ok(ServiceKind::Querynode)
        );
        assert_eq!(
            infer_kind(
                "pulsar:v3.1.0",
                "bash -c \"bin/apply-config-from-env.py conf/bookkeeper.conf && exec bin/pulsar bookie\""
            ),
            Ok(ServiceKind::Bookie)
        );
        assert_eq!(
            infer_kind("quay.io/coreos/etcd:v3.5.5", "etcd grpc-proxy start"),
            Ok(ServiceKind::EtcdProxy)
        );
        assert_eq!(
            infer_kind("minio/minio:latest", " minio server"),
            Ok(ServiceKind::Minio)
        );
        assert!(infer_kind("milvus:v2.3.0", "milvus run standalone")
            .unwrap_err()
            .contains("standalone"));
        assert!(infer_kind("redis:7", "").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("60s").unwrap(),
            SimDuration::from_secs(60)
        );
        assert_eq!(
            parse_go_duration("1m30s").unwrap(),
            SimDuration::from_secs(90)
        );
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            SimDuration::from_millis(500)
        );
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("10 s").is_err());
        assert_eq!(format_duration(SimDuration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn unknown_keys_are_reported_not_dropped() {
        let imp = one(
            "version: '3.7'\nservices:\n  q:\n    image: milvus:v2.3.0\n    command: milvus run querynode\n    volumes:\n      - /a:/b\n    deploy:\n      resources:\n        limits:\n          memory: 8G\n      placement:\n        constraints: [node.labels.q==true]\n        preferences:\n          - spread: node.labels.zone\nvolumes:\n  x: {}\n",
        )
        .unwrap();
        assert_eq!(imp.services.len(), 1);
        let report = imp.report().join("\n");
        assert!(report.contains("stack.yaml:6: volumes (q)"), "{report}");
        assert!(
            report.contains("stack.yaml:9: deploy.resources (q)"),
            "{report}"
        );
        assert!(
            report.contains("deploy.placement.preferences (q)"),
            "{report}"
        );
        assert!(
            report.contains("stack.yaml:16: top-level volumes: not modelled"),
            "{report}"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = one("services:\n  q:\n    image: milvus:v2.3.0\n    command: milvus run querynode\n    deploy:\n      restart_policy:\n        delay: 10\n").unwrap_err();
        assert_eq!((e.0[0].line, e.0.len()), (7, 1), "{e}");
        assert!(e.0[0].message.contains("restart_policy.delay"), "{e}");
        let e = one("services:\n  r:\n    image: redis:7\n").unwrap_err();
        assert_eq!(e.0[0].line, 2, "{e}");
        assert!(
            e.0[0].hint.as_deref().unwrap().contains("x-simctl-kind"),
            "{e}"
        );
        let e = one("services:\n  q:\n    image: milvus:v2.3.0\n    command: milvus run querynode\n    deploy:\n      placement:\n        constraints:\n          - node.platform.os==linux\n").unwrap_err();
        assert_eq!(e.0[0].line, 8, "{e}");
    }
}
