//! The configuration files a stack mounts, read for the experiment settings they
//! hold: an nginx.conf mounted into the nginx service gives `[nginx]`, a milvus.yaml
//! mounted into the Milvus services gives `[milvus]`.
//!
//! A mount's source is relative to its stack file. A file given explicitly (the
//! command's `--config FILE`) stands in for every mount whose source has its file
//! name, for when the stack's path does not exist where simctl runs. The settings are
//! written as an experiment fragment: `[nginx]` and `[milvus]` tables, each value
//! commented with the file and line it comes from.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::marked_yaml;
use super::milvus_yaml::{self, MilvusSettings};
use super::nginx_conf::{self, NginxSettings, Origin, StackServices};
use super::nginx_syntax;
use super::stack_import::{
    format_duration, report_lines, ConfigKind, ConfigMount, Import, Unmodelled,
};
use crate::scenario::error::{InputError, InputErrors};
use crate::scenario::load::read_file;
use crate::scenario::topology::ServiceKind;

/// A setting read but not modelled: its line, what it is and why.
#[derive(Clone, Debug, PartialEq)]
pub struct NotModelled {
    pub line: usize,
    pub what: String,
    pub why: String,
}

/// A value the model cannot take, or a contradiction with the stack.
#[derive(Clone, Debug, PartialEq)]
pub struct BadValue {
    pub line: usize,
    pub message: String,
    pub hint: String,
}

/// A configuration file read, with the services that mount it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub services: Vec<String>,
}

/// What the mounted configuration files say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub nginx: Option<(ConfigSource, NginxSettings)>,
    pub milvus: Option<(ConfigSource, MilvusSettings)>,
    /// Settings of the files that are not modelled, located in their files.
    pub unmodelled: Vec<Unmodelled>,
    /// Mounts that were not read, and services that run without the file the others
    /// mount.
    pub notes: Vec<String>,
}

impl Settings {
    /// The unmodelled settings, one line each: `nginx.conf:9: worker_connections: ...`.
    pub fn report(&self) -> Vec<String> {
        report_lines(&self.unmodelled)
    }
}

/// `./conf/../nginx.conf` relative to `dir`, without `.` components.
fn resolve(dir: &Path, source: &str) -> PathBuf {
    dir.join(source)
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or(p.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Reads the configuration files the imported services mount; `explicit` files stand
/// in for mounts whose source has the same file name.
pub fn read_configs(import: &Import, explicit: &[PathBuf]) -> Result<Settings, InputErrors> {
    let mut errors = Vec::new();
    let mut settings = Settings::default();
    let mounts: Vec<_> = import
        .services
        .iter()
        .flat_map(|s| s.configs.iter().map(move |m| (s, m)))
        .collect();
    let mounted_name = |m: &ConfigMount| file_name(Path::new(&m.source));
    for (i, e) in explicit.iter().enumerate() {
        let name = file_name(e);
        if explicit[..i].iter().any(|o| file_name(o) == name) {
            errors.push(cli_error(
                e,
                format!("a second --config file is named {name}"),
                "each --config stands in for the mounts of its file name; give one per name",
            ));
        } else if !mounts.iter().any(|(_, m)| mounted_name(m) == name) {
            let mounted: Vec<String> = mounts.iter().map(|(_, m)| m.source.clone()).collect();
            errors.push(cli_error(
                e,
                format!("no service of the stack files mounts a file named {name}"),
                &if mounted.is_empty() {
                    "the stack files mount no nginx.conf into an nginx service and no milvus.yaml into a Milvus service".to_string()
                } else {
                    format!(
                        "--config stands in for a mount with the same file name; the stack files mount {}",
                        dedup(mounted).join(", ")
                    )
                },
            ));
        }
    }
    // The files to read, by kind, with the services mounting each.
    let mut files: BTreeMap<(ConfigKind, PathBuf), Vec<String>> = BTreeMap::new();
    // Mounts whose source is not here: path -> (first mount, its source, services).
    let mut missing: BTreeMap<PathBuf, (String, String, Vec<String>)> = BTreeMap::new();
    for (svc, m) in &mounts {
        let path = match explicit.iter().find(|e| file_name(e) == mounted_name(m)) {
            Some(e) => e.clone(),
            None => {
                let p = resolve(m.file.parent().unwrap_or(Path::new(".")), &m.source);
                if !p.is_file() {
                    let entry = missing.entry(p).or_insert_with(|| {
                        let at = format!("{}:{}", file_name(&m.file), m.line);
                        (at, m.source.clone(), vec![])
                    });
                    entry.2.push(svc.name.clone());
                    continue;
                }
                p
            }
        };
        let services = files.entry((m.kind, path)).or_default();
        if !services.contains(&svc.name) {
            services.push(svc.name.clone());
        }
    }
    for (path, (at, source, services)) in missing {
        settings.notes.push(format!(
            "{at}: {source}, mounted by {}, is not at {}: its settings are not read; pass the file with --config FILE",
            dedup(services).join(", "),
            path.display()
        ));
    }
    let names: Vec<String> = import.services.iter().map(|s| s.name.clone()).collect();
    let minio: Vec<String> = import
        .services
        .iter()
        .filter(|s| s.kind == ServiceKind::Minio)
        .map(|s| s.name.clone())
        .collect();
    for ((kind, path), services) in files {
        let text = match read_file(&path, None) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut not_modelled = Vec::new();
        let source = ConfigSource {
            path: path.clone(),
            services,
        };
        let bad = match kind {
            ConfigKind::Nginx => match nginx_syntax::parse(&text) {
                Err(e) => vec![BadValue {
                    line: e.line,
                    message: format!("this nginx configuration is not valid: {}", e.message),
                    hint: "nginx ends each directive with \";\" and wraps blocks in { }; `nginx -t` checks a file".into(),
                }],
                Ok(conf) => {
                    let stack = StackServices {
                        all: &names,
                        minio: &minio,
                    };
                    match nginx_conf::settings(&conf, &stack, &mut not_modelled) {
                        Ok(s) => {
 keep(&mut settings.nginx, source, s, &mut errors);
 vec![]
}
                        Err(bad) => bad,
                    }
                }
            },
            ConfigKind::Milvus => match marked_yaml::parse(&text) {
                Err(e) => vec![BadValue {
                    line: e.line,
                    message: format!("this milvus.yaml is not valid YAML: {}", e.message),
                    hint: "check the indentation and quoting near this line".into(),
                }],
                Ok(doc) => match milvus_yaml::settings(&doc, &names, &mut not_modelled) {
                    Ok(s) => {
 keep(&mut settings.milvus, source, s, &mut errors);
 vec![]
}
                    Err(bad) => bad,
                },
            },
        };
        errors.extend(bad.into_iter().map(|b| InputError {
            file: path.clone(),
            line: b.line,
            column: 1,
            message: b.message,
            hint: Some(b.hint),
        }));
        not_modelled.sort_by_key(|n| n.line);
        settings
            .unmodelled
            .extend(not_modelled.into_iter().map(|n| Unmodelled {
                file: path.clone(),
                line: n.line,
                key: n.what,
                service: None,
                why: n.why,
            }));
    }
    if let Some((src, _)) = &settings.milvus {
        let without: Vec<&str> = import
            .services
            .iter()
            .filter(|s| s.kind.is_milvus() && !src.services.contains(&s.name))
            .map(|s| s.name.as_str())
            .collect();
        if !without.is_empty() {
            settings.notes.push(format!(
                "services without a milvus.yaml mount ({}) run their image's settings, while [milvus] holds for every Milvus service",
                without.join(", ")
            ));
        }
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(InputErrors(errors))
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn cli_error(path: &Path, message: String, hint: &str) -> InputError {
    InputError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message,
        hint: Some(hint.to_string()),
    }
}

/// Keeps the first file's settings; a second file of the same kind must agree, as an
/// experiment has one `[nginx]` and one `[milvus]` for every service.
fn keep<T: SameSettings>(
    slot: &mut Option<(ConfigSource, T)>,
    source: ConfigSource,
    value: T,
    errors: &mut Vec<InputError>,
) {
    // The disagreement is about the whole file, not a line of it: an error of its own.
    match slot {
        None => *slot = Some((source, value)),
        Some((first, v)) if !v.same_settings(&value) => errors.push(InputError {
            file: source.path.clone(),
            line: 1,
            column: 1,
            message: format!(
                "{} {} this file and {} {} {}, and their settings differ",
                source.services.join(", "),
                mount_verb(&source.services),
                first.services.join(", "),
                mount_verb(&first.services),
                first.path.display()
            ),
            hint: Some(
                "an experiment holds one setting for every service of a kind; mount one file into all of them, or import with --config FILE to read one".into(),
            ),
        }),
        Some(_) => {}
    }
}

fn mount_verb(services: &[String]) -> &'static str {
    if services.len() == 1 {
        "mounts"
    } else {
        "mount"
    }
}

/// Whether two files say the same, wherever in them they say it.
trait SameSettings {
    fn same_settings(&self, other: &Self) -> bool;
}

impl SameSettings for NginxSettings {
    fn same_settings(&self, o: &Self) -> bool {
        let servers = |s: &Self| -> Vec<(String, Option<u16>)> {
            s.servers.iter().map(|x| (x.host.clone(), x.port)).collect()
        };
        servers(self) == servers(o)
            && self.balance.value == o.balance.value
            && self.max_fails.value == o.max_fails.value
            && self.fail_timeout.value == o.fail_timeout.value
            && self.proxy_connect_timeout.value == o.proxy_connect_timeout.value
            && self.worker_processes.value == o.worker_processes.value
    }
}

impl SameSettings for MilvusSettings {
    fn same_settings(&self, o: &Self) -> bool {
        let values = |s: &Self| -> Vec<(&'static str, f64)> {
            let mut v: Vec<_> = s.overrides.iter().map(|x| (x.key, x.value)).collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v
        };
        values(self) == values(o)
    }
}

/// `file:line` of a value, or what supplies it when the file does not set it.
fn origin_text(path: &Path, from: Origin) -> String {
    match from {
        Origin::Line(l) => format!("{}:{l}", file_name(path)),
        Origin::Default => format!("nginx's default; {} does not set it", file_name(path)),
    }
}

/// A number as TOML: a whole number without a fraction.
fn toml_number(v: f64, unit: &str) -> String {
    if unit == "bool" {
        (v != 0.0).to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The experiment fragment: `[nginx]` and `[milvus]` with the file and line of each
/// value, headed by what the files hold that is not modelled.
pub fn fragment_text(settings: &Settings) -> String {
    let mut out = String::from(
        "# Written by `simctl import-stack` from the configuration files the stack files mount.\n\
         # Add these tables to an experiment (merge them into its own [nginx] and [milvus], if any).\n",
    );
    let report = settings.report();
    if !report.is_empty() {
        out.push_str("#\n# Settings of the files that simctl does not model:\n");
        for line in &report {
            out.push_str(&format!("#   {line}\n"));
        }
    }
    for note in &settings.notes {
        out.push_str(&format!("# note: {note}\n"));
    }
    if settings.nginx.is_none() && settings.milvus.is_none() {
        out.push_str("#\n# No configuration file was read.\n");
    }
    if let Some((src, n)) = &settings.nginx {
        out.push_str(&format!(
            "\n# {} (mounted by {}), upstream {} over {}\n[nginx]\n",
            src.path.display(),
            src.services.join(", "),
            n.upstream,
            n.servers
                .iter()
                .map(|s| s.host.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let p = &src.path;
        let lines = [
            (
                "balance",
                format!("\"{}\"", n.balance.value.name()),
                match n.balance.from {
                    Origin::Line(_) => origin_text(p, n.balance.from),
                    Origin::Default => format!(
                        "nginx's default; the upstream at {} names no method",
                        file_name(p)
                    ),
                },
            ),
            (
                "max_fails",
                n.max_fails.value.to_string(),
                origin_text(p, n.max_fails.from),
            ),
            (
                "fail_timeout",
                format!("\"{}\"", format_duration(n.fail_timeout.value)),
                origin_text(p, n.fail_timeout.from),
            ),
            (
                "proxy_connect_timeout",
                format!("\"{}\"", format_duration(n.proxy_connect_timeout.value)),
                origin_text(p, n.proxy_connect_timeout.from),
            ),
            (
                "worker_processes",
                match n.worker_processes.value {
                    None => "\"auto\"".to_string(),
                    Some(w) => w.to_string(),
                },
                origin_text(p, n.worker_processes.from),
            ),
        ];
        for (k, v, from) in lines {
            out.push_str(&format!("{:<34}# {from}\n", format!("{k} = {v}")));
        }
    }
    if let Some((src, m)) = &settings.milvus {
        out.push_str(&format!(
            "\n# {} (mounted by {}): the keys simctl models that differ from their 2.3 defaults",
            src.path.display(),
            src.services.join(", ")
        ));
        if m.not_compared > 0 {
            out.push_str(&format!(
                ";\n# keys neither modelled nor with a 2.3 default in the reference, not compared: {}",
                m.not_compared
            ));
        }
        out.push_str("\n[milvus]\n");
        for o in &m.overrides {
            let entry = format!("\"{}\" = {}", o.key, toml_number(o.value, o.unit));
            out.push_str(&format!(
                "{entry:<50}# {}:{}; 2.3 default {}\n",
                file_name(&src.path),
                o.line,
                toml_number(o.default, o.unit)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(service: &str, path: &str) -> ConfigSource {
        ConfigSource {
            path: PathBuf::from(path),
            services: vec![service.to_string()],
        }
    }

    #[test]
    fn two_files_that_say_the_same_on_other_lines_agree() {
        let a = MilvusSettings {
            overrides: vec![milvus_yaml::Override {
                key: "queryNode.enableDisk",
                value: 1.0,
                default: 0.0,
                unit: "",
                line: 10,
            }],
            not_compared: 3,
        };
        let mut b = a.clone();
        b.overrides[0].line = 11;
        b.not_compared = 4;
        let (mut slot, mut errors) = (None, Vec::new());
        keep(&mut slot, source("query1", "milvus.yaml"), a, &mut errors);
        keep(
            &mut slot,
            source("query2", "b/milvus.yaml"),
            b.clone(),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        b.overrides[0].value = 0.0;
        keep(&mut slot, source("query3", "c/milvus.yaml"), b, &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .starts_with("query3 mounts this file and query1 mounts milvus.yaml"),
            "{}",
            errors[0].message
        );
    }
}
