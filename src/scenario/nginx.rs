//! `[nginx]`: how the users' nginx (`minio-proxy`, reference §1.10) balances MinIO.
//!
//! Defaults are the users' `conf/nginx/nginx.conf` (reference §6.1: `upstream minio
//! { least_conn; server minio1:9000; ... }`, `proxy_connect_timeout 300`,
//! `worker_processes auto`) and nginx's own defaults for what the file leaves out
//! (reference §2.9: `max_fails=1`, `fail_timeout=10s`).

use serde::Deserialize;
use toml::Spanned;

use super::units::Duration;
use crate::engine::SimDuration;

/// How an nginx worker picks the MinIO server of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// `least_conn`: the server with the fewest requests in flight from this worker;
    /// ties by weighted round robin.
    LeastConn,
    /// nginx's default: smooth weighted round robin.
    RoundRobin,
}

impl Balance {
    pub fn name(self) -> &'static str {
        match self {
            Balance::LeastConn => "least_conn",
            Balance::RoundRobin => "round_robin",
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNginx {
    balance: Option<Spanned<String>>,
    max_fails: Option<Spanned<i64>>,
    fail_timeout: Option<Duration>,
    proxy_connect_timeout: Option<Duration>,
    worker_processes: Option<Spanned<toml::Value>>,
    cpu_ns_per_byte: Option<Spanned<f64>>,
    cpu_us_per_request: Option<Spanned<f64>>,
}

impl RawNginx {
    /// Whether the experiment sets any `[nginx]` key.
    pub(super) fn is_set(&self) -> bool {
        self.balance.is_some()
            || self.max_fails.is_some()
            || self.fail_timeout.is_some()
            || self.proxy_connect_timeout.is_some()
            || self.worker_processes.is_some()
            || self.cpu_ns_per_byte.is_some()
            || self.cpu_us_per_request.is_some()
    }
}

/// Resolved `[nginx]` knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct Nginx {
    /// The users' file: `least_conn`.
    pub balance: Balance,
    /// nginx default `max_fails=1` (reference §2.9): failed attempts within
    /// `fail_timeout` that take a server out; 0 never does.
    pub max_fails: u32,
    /// nginx default `fail_timeout=10s` (reference §2.9): the window the failures
    /// count in, and how long the server is then skipped.
    pub fail_timeout: SimDuration,
    /// The users' file: `proxy_connect_timeout 300` (nginx's default is 60 s). A
    /// connect to a host that does not answer (crashed, or cut off) waits this long.
    pub proxy_connect_timeout: SimDuration,
    /// The users' file: `worker_processes auto`, one worker per core of the host
    /// (None). Without a `zone` in the upstream (the users' has none) each worker keeps
    /// its own connection counts and failures.
    pub worker_processes: Option<u32>,
    /// GUESS (not in the reference): CPU per byte a worker copies from one socket to
    /// the other (`proxy_buffering off`, no TLS): 0.5 ns, about 2 GB/s per core.
    pub cpu_ns_per_byte: f64,
    /// GUESS (not in the reference): CPU per proxied request (accept, parse, connect
    /// upstream, log): 50 us, about 20,000 requests/s per core.
    pub cpu_us_per_request: f64,
}

impl Default for Nginx {
    fn default() -> Self {
        Nginx {
            balance: Balance::LeastConn,
            max_fails: 1,
            fail_timeout: SimDuration::from_secs(10),
            proxy_connect_timeout: SimDuration::from_secs(300),
            worker_processes: None,
            cpu_ns_per_byte: 0.5,
            cpu_us_per_request: 50.0,
        }
    }
}

/// A bad `[nginx]` value: where it is (if known) and what the key takes.
pub(super) type NginxError = (Option<std::ops::Range<usize>>, String);

/// Resolves `[nginx]`; every bad key gives an error naming it and saying what it
/// takes.
pub(super) fn resolve_nginx(raw: &RawNginx) -> Result<Nginx, Vec<NginxError>> {
    let d = Nginx::default();
    let mut errors: Vec<NginxError> = Vec::new();
    let balance = match &raw.balance {
        None => d.balance,
        Some(b) => match b.get_ref().as_str() {
            "least_conn" => Balance::LeastConn,
            "round_robin" => Balance::RoundRobin,
            other => {
                errors.push((
                    Some(b.span()),
                    format!(
                        "[nginx] balance {other:?}: expected \"least_conn\" or \"round_robin\""
                    ),
                ));
                d.balance
            }
        },
    };
    let max_fails = match &raw.max_fails {
        None => d.max_fails,
        Some(m) => u32::try_from(*m.get_ref()).unwrap_or_else(|_| {
            errors.push((
                Some(m.span()),
                "[nginx] max_fails must be 0 or more (0: never take a server out)".to_string(),
            ));
            d.max_fails
        }),
    };
    let worker_processes = match &raw.worker_processes {
        None => d.worker_processes,
        Some(w) => match w.get_ref() {
            toml::Value::String(s) if s == "auto" => None,
            toml::Value::Integer(n) if (1..=1024).contains(n) => Some(*n as u32),
            _ => {
                errors.push((
                    Some(w.span()),
                    "[nginx] worker_processes takes \"auto\" (one per core) or 1-1024".into(),
                ));
                d.worker_processes
            }
        },
    };
    let mut non_negative = |v: &Option<Spanned<f64>>, name: &str, default: f64| match v {
        None => default,
        Some(x) if x.get_ref().is_finite() && *x.get_ref() >= 0.0 => *x.get_ref(),
        Some(x) => {
            errors.push((Some(x.span()), format!("[nginx] {name} must be 0 or more")));
            default
        }
    };
    let cpu_ns_per_byte = non_negative(&raw.cpu_ns_per_byte, "cpu_ns_per_byte", d.cpu_ns_per_byte);
    let cpu_us_per_request = non_negative(
        &raw.cpu_us_per_request,
        "cpu_us_per_request",
        d.cpu_us_per_request,
    );
    let n = Nginx {
        balance,
        max_fails,
        fail_timeout: raw.fail_timeout.map(|x| x.0).unwrap_or(d.fail_timeout),
        proxy_connect_timeout: raw
            .proxy_connect_timeout
            .map(|x| x.0)
            .unwrap_or(d.proxy_connect_timeout),
        worker_processes,
        cpu_ns_per_byte,
        cpu_us_per_request,
    };
    if n.proxy_connect_timeout == SimDuration::ZERO {
        errors.push((
            None,
            "[nginx] proxy_connect_timeout must be longer than zero".into(),
        ));
    }
    if errors.is_empty() {
        Ok(n)
    } else {
        Err(errors)
    }
}
