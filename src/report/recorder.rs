//! What a run records while it plays: one row per request, one per lifecycle event.

use crate::engine::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Error,
    /// Still in flight when the run ended.
    Incomplete,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Incomplete => "incomplete",
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestRow {
    pub id: u64,
    pub kind: &'static str,
    pub start: SimTime,
    pub end: Option<SimTime>,
    pub status: Status,
    pub error: Option<&'static str>,
    /// Index into `Recorder::proxies`.
    pub proxy: u32,
    /// Failed while the application's own release() or load() kept the collection
    /// from being served: no fault's doing (see `Ddl::unserved_by_application`).
    pub by_application: bool,
}

impl RequestRow {
    /// A request answered at `end`: ok, or failed with `error`.
    pub fn finished(
        id: u64,
        kind: &'static str,
        start: SimTime,
        end: SimTime,
        error: Option<&'static str>,
        proxy: u32,
    ) -> Self {
        RequestRow {
            id,
            kind,
            start,
            end: Some(end),
            status: if error.is_some() {
                Status::Error
            } else {
                Status::Ok
            },
            error,
            proxy,
            by_application: false,
        }
    }

    /// A request sent at `start` and not answered when the run ended.
    pub fn incomplete(id: u64, kind: &'static str, start: SimTime, proxy: u32) -> Self {
        RequestRow {
            id,
            kind,
            start,
            end: None,
            status: Status::Incomplete,
            error: None,
            proxy,
            by_application: false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct EventRow {
    pub t: SimTime,
    pub kind: &'static str,
    pub host: String,
    pub service: String,
    pub detail: String,
}

#[derive(Default)]
pub struct Recorder {
    pub requests: Vec<RequestRow>,
    pub events: Vec<EventRow>,
    /// Names of the proxy tasks, indexed by `RequestRow::proxy`.
    pub proxies: Vec<String>,
    /// Searches the clients sent again after a failure (`workload.retries`).
    pub search_retries: u64,
    /// The same for queries by primary key.
    pub query_retries: u64,
}

impl Recorder {
    pub fn event(
        &mut self,
        t: SimTime,
        kind: &'static str,
        host: &str,
        service: &str,
        detail: String,
    ) {
        self.events.push(EventRow {
            t,
            kind,
            host: host.to_string(),
            service: service.to_string(),
            detail,
        });
    }
}
