//! An nginx configuration file, as a stack mounts it into its nginx service, read for
//! what `[nginx]` models: the upstream that balances MinIO (reference §1.10), its
//! balancing method and server parameters, `proxy_connect_timeout` and
//! `worker_processes`.
//!
//! `include` is not followed. Directives that change what nginx does but are not
//! modelled are listed, never dropped silently.

use super::nginx_syntax::{parse_nginx_time, Directive};
use super::stack_configs::{BadValue, NotModelled};
use crate::engine::SimDuration;
use crate::scenario::nginx::Balance;

/// Where an imported value comes from: a line of the file, or nginx's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Origin {
    Line(usize),
    /// nginx's own default: the file does not set it.
    Default,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub from: Origin,
}

/// A server of the MinIO upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamServer {
    pub host: String,
    pub port: Option<u16>,
    pub line: usize,
}

/// What an nginx.conf says about the knobs of `[nginx]`.
#[derive(Clone, Debug, PartialEq)]
pub struct NginxSettings {
    /// The upstream that balances MinIO.
    pub upstream: String,
    pub servers: Vec<UpstreamServer>,
    pub balance: Sourced<Balance>,
    pub max_fails: Sourced<u32>,
    pub fail_timeout: Sourced<SimDuration>,
    pub proxy_connect_timeout: Sourced<SimDuration>,
    /// `None`: `auto`.
    pub worker_processes: Sourced<Option<u32>>,
}

/// The services of the stack files, as the nginx config is checked against them.
pub struct StackServices<'a> {
    pub all: &'a [String],
    pub minio: &'a [String],
}

/// MinIO's S3 API port: Milvus reaches MinIO at `minio-proxy:9000` (reference §1.10),
/// so the upstream proxied from a server listening on it is the one the model plays.
const MINIO_API_PORT: u16 = 9000;

/// Reads the settings of `[nginx]` from a parsed nginx.conf.
pub fn settings(
    conf: &[Directive],
    stack: &StackServices,
    not_modelled: &mut Vec<NotModelled>,
) -> Result<NginxSettings, Vec<BadValue>> {
    let mut bad = Vec::new();
    let http = conf.iter().filter(|d| d.name == "http").collect::<Vec<_>>();
    let upstreams: Vec<&Directive> = http
        .iter()
        .flat_map(|h| h.children())
        .filter(|d| d.name == "upstream" && d.block.is_some())
        .collect();
    // Every upstream's servers must be services of the stack: nginx refuses to start
    // when a name does not resolve.
    for u in &upstreams {
        for s in u.children().iter().filter(|d| d.name == "server") {
            let Some(addr) = s.args.first() else { continue };
            let (host, _) = split_host_port(addr);
            if !is_address(host) && !stack.all.iter().any(|n| n == host) {
                bad.push(BadValue {
                    line: s.line,
                    message: format!(
                        "upstream {}: server {addr} names no service of the stack files",
                        u.args.first().map(String::as_str).unwrap_or("")
                    ),
                    hint: "nginx does not start when an upstream host does not resolve; name a service of the stack (minio1:9000) or import the stack file that defines it".into(),
                });
            }
        }
    }
    let minio_upstreams: Vec<&Directive> = upstreams
        .iter()
        .copied()
        .filter(|u| {
            u.children().iter().any(|s| {
                s.name == "server"
                    && s.args
                        .first()
                        .is_some_and(|a| stack.minio.iter().any(|m| m == split_host_port(a).0))
            })
        })
        .collect();
    let proxied_from_api_port = |u: &Directive| {
        let name = u.args.first().map(String::as_str).unwrap_or("");
        http.iter()
            .flat_map(|h| h.children())
            .filter(|s| s.name == "server" && listens_on(s, MINIO_API_PORT))
            .any(|s| !proxy_passes(s, name).is_empty())
    };
    let chosen = minio_upstreams
        .iter()
        .copied()
        .find(|u| proxied_from_api_port(u))
        .or(minio_upstreams.first().copied());
    let Some(upstream) = chosen else {
        let line = http.first().map(|h| h.line).unwrap_or(1);
        bad.push(BadValue {
            line,
            message: "no upstream of this file balances the stack's MinIO services".into(),
            hint: format!(
                "simctl models nginx in front of MinIO: an `upstream` in `http` with `server` entries naming the MinIO services ({}); mount the file that has it",
                stack.minio.join(", ")
            ),
        });
        return Err(bad);
    };
    let name = upstream.args.first().cloned().unwrap_or_default();

    let worker_processes = match conf.iter().rfind(|d| d.name == "worker_processes") {
        None => Sourced {
            value: Some(1),
            from: Origin::Default,
        },
        Some(d) => match d.args.first().map(String::as_str) {
            Some("auto") => Sourced {
                value: None,
                from: Origin::Line(d.line),
            },
            Some(n) => match n.parse::<u32>() {
                Ok(n) if (1..=1024).contains(&n) => Sourced {
                    value: Some(n),
                    from: Origin::Line(d.line),
                },
                _ => {
                    bad.push(BadValue {
                        line: d.line,
                        message: format!("worker_processes {n:?} is not \"auto\" or a number of workers"),
                        hint: "write `worker_processes auto;` (one per core) or a number from 1 to 1024".into(),
                    });
                    Sourced {
                        value: None,
                        from: Origin::Line(d.line),
                    }
                }
            },
            None => {
                bad.push(BadValue {
                    line: d.line,
                    message: "worker_processes has no value".into(),
                    hint: "write `worker_processes auto;` or a number".into(),
                });
                Sourced {
                    value: None,
                    from: Origin::Line(d.line),
                }
            }
        },
    };

    let mut balance = Sourced {
        value: Balance::RoundRobin,
        from: Origin::Default,
    };
    let mut servers = Vec::new();
    let mut params: Vec<(usize, Option<u32>, Option<SimDuration>)> = Vec::new();
    for d in upstream.children() {
        match d.name.as_str() {
            "least_conn" => {
                balance = Sourced {
                    value: Balance::LeastConn,
                    from: Origin::Line(d.line),
                }
            }
            "server" => {
                let Some(addr) = d.args.first() else {
                    bad.push(BadValue {
                        line: d.line,
                        message: format!("upstream {name}: server has no address"),
                        hint: "write `server minio1:9000;`".into(),
                    });
                    continue;
                };
                let (host, port) = split_host_port(addr);
                servers.push(UpstreamServer {
                    host: host.to_string(),
                    port,
                    line: d.line,
                });
                let (mut max_fails, mut fail_timeout) = (None, None);
                for p in &d.args[1..] {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    match k {
                        "max_fails" => match v.parse::<u32>() {
                            Ok(n) => max_fails = Some(n),
                            Err(_) => bad.push(BadValue {
                                line: d.line,
                                message: format!("upstream {name}: {p} is not a number of failures"),
                                hint: "write max_fails=N with N 0 or more (0: never take the server out)".into(),
                            }),
                        },
                        "fail_timeout" => match parse_nginx_time(v) {
                            Ok(t) => fail_timeout = Some(t),
                            Err(e) => bad.push(BadValue {
                                line: d.line,
                                message: format!("upstream {name}: {p}: {e}"),
                                hint: "write a time as nginx does: 10s, 500ms, 1m".into(),
                            }),
                        },
                        "weight" if v == "1" => {}
                        "weight" => not_modelled.push(NotModelled {
                            line: d.line,
                            what: format!("upstream {name}: server {addr} {p}"),
                            why: "not modelled: every server weighs 1".into(),
                        }),
                        "backup" => not_modelled.push(NotModelled {
                            line: d.line,
                            what: format!("upstream {name}: server {addr} backup"),
                            why: "not modelled: a backup server gets requests as the others do".into(),
                        }),
                        "down" => not_modelled.push(NotModelled {
                            line: d.line,
                            what: format!("upstream {name}: server {addr} down"),
                            why: "not modelled: a server marked down gets requests as the others do".into(),
                        }),
                        _ => not_modelled.push(NotModelled {
                            line: d.line,
                            what: format!("upstream {name}: server {addr} {p}"),
                            why: "not modelled".into(),
                        }),
                    }
                }
                params.push((d.line, max_fails, fail_timeout));
            }
            other => not_modelled.push(NotModelled {
                line: d.line,
                what: format!("upstream {name}: {}", d.text()),
                why: why_upstream_directive(other).into(),
            }),
        }
    }
    let max_fails = one_value(&params, |p| p.1, 1, &name, "max_fails", not_modelled);
    // reference §2.9: nginx's defaults max_fails=1, fail_timeout=10s.
    let fail_timeout = one_value(
        &params,
        |p| p.2,
        SimDuration::from_secs(10),
        &name,
        "fail_timeout",
        not_modelled,
    );
    for m in stack
        .minio
        .iter()
        .filter(|m| !servers.iter().any(|s| &s.host == *m))
    {
        not_modelled.push(NotModelled {
            line: upstream.line,
            what: format!("upstream {name}: no server {m}"),
            why: "not modelled: nginx balances over every MinIO service of the topology".into(),
        });
    }
    for u in upstreams.iter().filter(|u| !std::ptr::eq(**u, upstream)) {
        not_modelled.push(NotModelled {
            line: u.line,
            what: u.text(),
            why: format!(
                "not modelled: only upstream {name} is, the one Milvus reaches MinIO through (port {MINIO_API_PORT})"
            ),
        });
    }

    let proxy_connect_timeout = connect_timeout(conf, &name, &mut bad, not_modelled);
    report_scope(conf, &name, not_modelled);
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(NginxSettings {
        upstream: name,
        servers,
        balance,
        max_fails,
        fail_timeout,
        proxy_connect_timeout,
        worker_processes,
    })
}

/// The one value a parameter takes on every server (the model has one per upstream);
/// servers that disagree are reported and the first server's value is used.
fn one_value<T: Copy + PartialEq>(
    params: &[(usize, Option<u32>, Option<SimDuration>)],
    get: impl Fn(&(usize, Option<u32>, Option<SimDuration>)) -> Option<T>,
    default: T,
    upstream: &str,
    key: &str,
    not_modelled: &mut Vec<NotModelled>,
) -> Sourced<T> {
    let Some(first) = params.first() else {
        return Sourced {
            value: default,
            from: Origin::Default,
        };
    };
    let value = |p| get(p).unwrap_or(default);
    if let Some(other) = params.iter().find(|p| value(p) != value(first)) {
        not_modelled.push(NotModelled {
            line: other.0,
            what: format!("upstream {upstream}: {key} differs between servers"),
            why: format!(
                "not modelled: one {key} holds for every server; the first server's (line {}) is used",
                first.0
            ),
        });
    }
    Sourced {
        value: value(first),
        from: if get(first).is_some() {
            Origin::Line(first.0)
        } else {
            Origin::Default
        },
    }
}

/// `proxy_connect_timeout` where requests are passed to the upstream: the innermost
/// setting of the location, its server or `http` (nginx's inheritance).
fn connect_timeout(
    conf: &[Directive],
    upstream: &str,
    bad: &mut Vec<BadValue>,
    not_modelled: &mut Vec<NotModelled>,
) -> Sourced<SimDuration> {
    let mut found: Vec<Sourced<SimDuration>> = Vec::new();
    for http in conf.iter().filter(|d| d.name == "http") {
        for path in proxy_passes(http, upstream) {
            let set = path.iter().rev().find_map(|block| {
                block
                    .children()
                    .iter()
                    .rfind(|d| d.name == "proxy_connect_timeout")
            });
            found.push(match set {
                None => Sourced {
                    value: SimDuration::from_secs(60),
                    from: Origin::Default,
                },
                Some(d) => match d.args.first().map(|a| parse_nginx_time(a)) {
                    Some(Ok(t)) if t > SimDuration::ZERO => Sourced {
                        value: t,
                        from: Origin::Line(d.line),
                    },
                    _ => {
                        bad.push(BadValue {
                            line: d.line,
                            message: format!("{} is not a time longer than zero", d.text()),
                            hint: "write a time as nginx does: 300 (seconds), 300s, 5m".into(),
                        });
                        Sourced {
                            value: SimDuration::from_secs(60),
                            from: Origin::Line(d.line),
                        }
                    }
                },
            });
        }
    }
    let Some(first) = found.first().copied() else {
        not_modelled.push(NotModelled {
            line: conf.iter().find(|d| d.name == "http").map(|d| d.line).unwrap_or(1),
            what: format!("no proxy_pass to upstream {upstream}"),
            why: "nothing passes requests to the upstream; simctl models nginx proxying them, with nginx's default proxy_connect_timeout 60s".into(),
        });
        return Sourced {
            value: SimDuration::from_secs(60),
            from: Origin::Default,
        };
    };
    if let Some(other) = found.iter().find(|s| s.value != first.value) {
        let line = match other.from {
            Origin::Line(l) => l,
            Origin::Default => 1,
        };
        not_modelled.push(NotModelled {
            line,
            what: format!("proxy_connect_timeout differs between the locations passing to {upstream}"),
            why: "not modelled: one proxy_connect_timeout holds for every request; the first location's is used".into(),
        });
    }
    first
}

/// The chains of blocks (outermost first, ending with the location) under `block`
/// whose location passes requests to `upstream`.
fn proxy_passes<'a>(block: &'a Directive, upstream: &str) -> Vec<Vec<&'a Directive>> {
    let mut out = Vec::new();
    if block
        .children()
        .iter()
        .any(|d| d.name == "proxy_pass" && d.args.first().is_some_and(|u| url_host(u) == upstream))
    {
        out.push(vec![block]);
    }
    for child in block
        .children()
        .iter()
        .filter(|d| d.block.is_some() && d.name != "upstream")
    {
        for mut path in proxy_passes(child, upstream) {
            path.insert(0, block);
            out.push(path);
        }
    }
    out
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', ':', '?']).next().unwrap_or("")
}

fn listens_on(server: &Directive, port: u16) -> bool {
    server.children().iter().any(|d| {
        d.name == "listen"
            && d.args.first().is_some_and(|a| {
                let p = a.rsplit(':').next().unwrap_or(a);
                p.parse::<u16>() == Ok(port)
            })
    })
}

/// `minio1:9000` as host and port; `[::1]:80` keeps its brackets; a unix socket
/// (`unix:/path`) is all host.
fn split_host_port(addr: &str) -> (&str, Option<u16>) {
    if addr.starts_with("unix:") {
        return (addr, None);
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
            (h, p.parse().ok())
        }
        _ => (addr, None),
    }
}

/// An IP address or a unix socket, which names no service and is not checked.
fn is_address(host: &str) -> bool {
    host.starts_with("unix:") || host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok()
}

fn why_upstream_directive(name: &str) -> &'static str {
    match name {
        "zone" => "not modelled: each worker keeps its own counts and failures as if there were no zone",
        "keepalive" | "keepalive_timeout" | "keepalive_requests" | "keepalive_time" => {
            "not modelled: one connection per transfer to MinIO"
        }
        "hash" | "ip_hash" | "random" | "least_time" | "sticky" => {
            "not modelled: simctl balances least_conn or round robin; the fragment keeps the file's round robin"
        }
        _ => "not modelled",
    }
}

/// Directives whose effect on what simctl simulates is none (logging, headers, MIME
/// types, names): read and passed over without a report.
fn no_effect(d: &Directive) -> bool {
    let value = d.args.first().map(String::as_str).unwrap_or("");
    match d.name.as_str() {
        "user"
        | "pid"
        | "error_log"
        | "access_log"
        | "log_format"
        | "default_type"
        | "types"
        | "server_name"
        | "proxy_set_header"
        | "real_ip_header"
        | "set_real_ip_from"
        | "real_ip_recursive"
        | "ignore_invalid_headers"
        | "underscores_in_headers"
        | "chunked_transfer_encoding"
        | "sendfile"
        | "tcp_nopush"
        | "tcp_nodelay"
        | "server_tokens"
        | "add_header"
        | "charset"
        | "listen"
        | "proxy_http_version"
        | "worker_processes"
        | "proxy_pass"
        | "proxy_connect_timeout" => true,
        // The model streams bodies through without a limit, as the users' file says.
        "proxy_buffering" | "proxy_request_buffering" => value == "off",
        "client_max_body_size" => value == "0",
        _ => false,
    }
}

fn why_directive(name: &str) -> &'static str {
    match name {
        "worker_connections" => "not modelled: a worker's connections are not limited",
        "keepalive_timeout" | "keepalive_requests" => {
            "not modelled: client connections are not modelled, one per transfer"
        }
        "proxy_next_upstream" | "proxy_next_upstream_tries" | "proxy_next_upstream_timeout" => {
            "not modelled: a failed attempt moves on as nginx's default `proxy_next_upstream error timeout` does"
        }
        "proxy_read_timeout" | "proxy_send_timeout" => {
            "not modelled: a MinIO server that accepted a connection always answers"
        }
        "proxy_buffering" | "proxy_request_buffering" => {
            "not modelled: bodies stream through nginx (proxy_buffering off)"
        }
        "client_max_body_size" => "not modelled: request bodies are not size-limited",
        "include" => "not followed: the included file is not read; write what matters of it into this file",
        _ => "not modelled",
    }
}

/// Reports the directives of the parts nginx uses to pass Milvus's requests to the
/// MinIO upstream (main, events, http, the servers and locations passing to it) that
/// change behaviour but are not modelled; other servers are reported whole.
fn report_scope(conf: &[Directive], upstream: &str, not_modelled: &mut Vec<NotModelled>) {
    for d in conf {
        match d.name.as_str() {
            "events" => report_directives(d.children(), not_modelled),
            "http" => {
                for c in d.children() {
                    match c.name.as_str() {
                        "upstream" => {}
                        "server" if c.block.is_some() => {
                            if proxy_passes(c, upstream).is_empty() {
                                not_modelled.push(NotModelled {
                                    line: c.line,
                                    what: format!("server {}", listen_text(c)),
                                    why: format!(
                                        "not modelled: only what is passed to upstream {upstream} is"
                                    ),
                                });
                            } else {
                                report_block(c, not_modelled);
                            }
                        }
                        _ => report_directives(std::slice::from_ref(c), not_modelled),
                    }
                }
            }
            _ => report_directives(std::slice::from_ref(d), not_modelled),
        }
    }
}

fn report_block(block: &Directive, not_modelled: &mut Vec<NotModelled>) {
    for c in block.children() {
        if c.block.is_some() && c.name == "location" {
            report_block(c, not_modelled);
        } else {
            report_directives(std::slice::from_ref(c), not_modelled);
        }
    }
}

fn report_directives(ds: &[Directive], not_modelled: &mut Vec<NotModelled>) {
    for d in ds.iter().filter(|d| !no_effect(d)) {
        not_modelled.push(NotModelled {
            line: d.line,
            what: if d.name == "include" {
                d.text()
            } else {
                d.name.clone()
            },
            why: why_directive(&d.name).into(),
        });
    }
}

fn listen_text(server: &Directive) -> String {
    let ports: Vec<&str> = server
        .children()
        .iter()
        .filter(|d| d.name == "listen")
        .filter_map(|d| d.args.first().map(String::as_str))
        .collect();
    if ports.is_empty() {
        String::new()
    } else {
        format!("(listen {})", ports.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIO: [&str; 2] = ["minio1", "minio2"];

    fn read(text: &str) -> (Result<NginxSettings, Vec<BadValue>>, Vec<NotModelled>) {
        let conf = super::super::nginx_syntax::parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        let all: Vec<String> = ["minio1", "minio2", "minio-proxy"]
            .map(String::from)
            .to_vec();
        let minio: Vec<String> = MINIO.map(String::from).to_vec();
        let mut nm = Vec::new();
        let s = settings(
            &conf,
            &StackServices {
                all: &all,
                minio: &minio,
            },
            &mut nm,
        );
        (s, nm)
    }

    #[test]
    fn defaults_when_the_file_sets_nothing() {
        let (s, nm) = read(
            "http {\n upstream s3 {\n  server minio1:9000;\n  server minio2:9000;\n }\n server {\n  listen 9000;\n  location / { proxy_pass http://s3; }\n }\n}\n",
        );
        let s = s.unwrap();
        assert_eq!(s.balance.value, Balance::RoundRobin);
        assert_eq!(
            s.max_fails,
            Sourced {
                value: 1,
                from: Origin::Default
            }
        );
        assert_eq!(s.fail_timeout.value, SimDuration::from_secs(10));
        assert_eq!(s.proxy_connect_timeout.value, SimDuration::from_secs(60));
        assert_eq!(s.worker_processes.value, Some(1));
        assert!(nm.is_empty(), "{nm:?}");
    }

    #[test]
    fn server_parameters_and_inherited_timeout() {
        let (s, nm) = read(
            "worker_processes 4;\nhttp {\n proxy_connect_timeout 5s;\n upstream s3 {\n  least_conn;\n  zone s3 64k;\n  server minio1:9000 max_fails=3 fail_timeout=30s weight=2;\n  server minio2:9000 max_fails=3 fail_timeout=30s backup;\n  keepalive 16;\n }\n server {\n  listen 9000;\n  location / { proxy_pass http://s3/; proxy_next_upstream off; }\n }\n}\n",
        );
        let s = s.unwrap();
        assert_eq!(
            s.balance,
            Sourced {
                value: Balance::LeastConn,
                from: Origin::Line(5)
            }
        );
        assert_eq!(
            s.max_fails,
            Sourced {
                value: 3,
                from: Origin::Line(7)
            }
        );
        assert_eq!(s.fail_timeout.value, SimDuration::from_secs(30));
        assert_eq!(
            s.proxy_connect_timeout,
            Sourced {
                value: SimDuration::from_secs(5),
                from: Origin::Line(3)
            }
        );
        assert_eq!(s.worker_processes.value, Some(4));
        let what: Vec<&str> = nm.iter().map(|n| n.what.as_str()).collect();
        for w in [
            "upstream s3: zone s3 64k",
            "upstream s3: server minio1:9000 weight=2",
            "upstream s3: server minio2:9000 backup",
            "upstream s3: keepalive 16",
            "proxy_next_upstream",
        ] {
            assert!(what.contains(&w), "{w} missing from {what:?}");
        }
    }

    #[test]
    fn contradictions_are_errors() {
        let (s, _) =
            read("http {\n upstream s3 {\n  server minio1:9000;\n  server minio5:9000;\n }\n}\n");
        let e = s.unwrap_err();
        assert_eq!(e[0].line, 4);
        assert!(
            e[0].message.contains("minio5:9000 names no service"),
            "{e:?}"
        );
        let (s, _) = read("http {\n upstream web {\n  server 10.0.0.1:80;\n }\n}\n");
        assert!(s.unwrap_err()[0].message.contains("no upstream"));
        let (s, _) = read(
            "worker_processes many;\nhttp {\n upstream s3 {\n  server minio1:9000 max_fails=x;\n }\n}\n",
        );
        let lines: Vec<usize> = s.unwrap_err().iter().map(|b| b.line).collect();
        assert_eq!(lines, [1, 4]);
    }

    #[test]
    fn a_unix_socket_server_is_an_address_not_a_service() {
        let (s, _) = read(
            "http {\n upstream s3 {\n  server minio1:9000;\n  server unix:/var/run/minio.sock;\n }\n}\n",
        );
        let s = s.unwrap();
        assert_eq!(s.servers[1].host, "unix:/var/run/minio.sock");
        assert_eq!(s.servers[1].port, None);
    }
}
