//! Transfers to and from object storage (reference §1.10, §2.9).
//!
//! Every Milvus process reaches MinIO at `minio-proxy:9000`: the Swarm service name
//! of the users' nginx (2 tasks on the managers, reference §6.3), which resolves to a
//! virtual IP that each host's IPVS spreads over the running tasks, round robin per
//! connection. An nginx worker passes the request to one MinIO server of the
//! upstream (see `nginx.rs`), which coordinates it for the erasure set: for a read it
//! gathers the shards from every server's drives and streams the object back; for a
//! write it takes the whole object, erasure codes it and sends each server its
//! shards. nginx streams both ways (`proxy_buffering off`, `proxy_request_buffering
//! off`): its host receives and sends every byte, and pays CPU for it.
//!
//! A connect nginx makes to a dead server: a process that died on a running host
//! (killed, stopped) refuses it at once (the host answers with a reset); a crashed
//! host, or one behind a network cut, answers nothing and the connect waits until
//! the kernel gives up on its SYNs (127 s, `[failover] tcp_syn_timeout`) or
//! `proxy_connect_timeout` passes (300 s in the users' file), whichever comes first,
//! before nginx tries the next server. That is the rule the model already follows
//! for bookies (reference §2.8). Once Swarm has declared the host's node down, the
//! server's task is out of its service's virtual IP and connects are refused at once.

use crate::engine::{Ctx, SimDuration, SimTime};

use super::ingest::{minio_parity, MINIO_DRIVES_PER_SERVER};
use super::msg::Msg;
use super::world::{submit_cpu, World};

/// The way one request takes to object storage.
struct Route {
    /// The nginx task (placement task), the index of it among nginx's tasks and
    /// the worker carrying the request; None: no nginx, straight to MinIO.
    via: Option<(usize, usize, usize)>,
    /// The MinIO server (index among the MinIO tasks) that coordinates it.
    coordinator: usize,
    /// When it reaches that server: later than now after connects that timed out.
    start: SimTime,
}

/// CPU an nginx worker spends on a request: (host, CPU owner, core-ns).
type NginxCpu = (usize, usize, f64);

/// Reads `bytes` from object storage into the host of task `to`; None when no
/// read quorum (or no nginx in front of it) can be reached.
pub fn minio_read(ctx: &mut Ctx<'_, Msg, World>, to: usize, bytes: u64) -> Option<SimTime> {
    minio_read_via(ctx, to, bytes).map(|(done, _)| done)
}

/// Like [`minio_read`], also giving the endpoints the bytes come from (the MinIO
/// servers, or the nginx host in front of them): a cut from any of them breaks the
/// transfer.
pub fn minio_read_via(
    ctx: &mut Ctx<'_, Msg, World>,
    to: usize,
    bytes: u64,
) -> Option<(SimTime, Vec<usize>)> {
    let now = ctx.now();
    let (done, cpu) = ctx.world.object_read(now, to, bytes);
    charge(ctx, cpu);
    done
}

/// Writes `bytes` from the host of task `from` to object storage, erasure coded
/// over every drive of the MinIO servers; None when fewer drives can be reached
/// than the write quorum needs (or no nginx in front of them), or they are full.
pub fn minio_write(ctx: &mut Ctx<'_, Msg, World>, from: usize, bytes: u64) -> Option<SimTime> {
    let now = ctx.now();
    let (done, cpu) = ctx.world.object_write(now, from, bytes);
    charge(ctx, cpu);
    done
}

/// The nginx worker's CPU for a request, on its host's CPU (one worker is one
/// thread): it shows in the host's CPU series and competes with what else runs
/// there (the Milvus proxies, on the users' managers).
fn charge(ctx: &mut Ctx<'_, Msg, World>, cpu: Option<NginxCpu>) {
    if let Some((host, owner, ns)) = cpu {
        let hw = ctx.world.hardware;
        submit_cpu(ctx, host, owner, ns, 1, hw, Msg::NginxCpuDone);
    }
}

impl World {
    /// The nginx task (index among nginx's tasks) a new connection from task
    /// `client` goes to, and how long the connects before it waited: the client
    /// host's IPVS takes the tasks of the service's virtual IP in turn (GUESS: one
    /// connection per transfer; the MinIO client keeps connections open, so the real
    /// spread goes by connection, not by request). A task stays in the virtual IP
    /// until Swarm declares its node down (reference §2.10): a connect to one whose
    /// host crashed, or that a network cut hides, answers nothing, and the client
    /// gives up after its dial timeout (`[failover] object_client_dial_timeout`) and
    /// connects again, to the next task. A killed process on a running host refuses
    /// at once (GUESS: the retry costs nothing; Swarm takes the task out soon).
    /// `Ok(None)`: no nginx. `Err`: no task answers.
    fn gateway(&mut self, client: usize) -> Result<Option<(usize, SimDuration)>, ()> {
        if self.nginx_tasks.is_empty() {
            return Ok(None);
        }
        let n = self.nginx_tasks.len();
        let host = self.tasks[client].host;
        let dial = self
            .failover
            .object_client_dial_timeout
            .min(self.failover.tcp_syn_timeout);
        let mut wait = SimDuration::ZERO;
        let mut timed_out = 0;
        for k in 0..n {
            let i = (self.next_nginx[host] + k) % n;
            let g = self.nginx_tasks[i];
            let h = &self.hosts[self.tasks[g].host];
            let reachable = self.tasks_reachable(g, client);
            if self.tasks[g].up && h.up && reachable {
                self.next_nginx[host] = (i + 1) % n;
                if timed_out > 0 {
                    let st = &mut self.upstream.stats;
                    st.client_connects_timed_out += timed_out;
                    st.client_connect_wait_ns += wait.0;
                }
                return Ok(Some((i, wait)));
            }
            // A killed process on a running host refuses at once; a task Swarm took
            // out of the virtual IP gets no connect.
            let refused = h.up && !self.tasks[g].up;
            if !refused && !h.swarm_down {
                wait = wait + dial;
                timed_out += 1;
            }
        }
        Err(())
    }

    /// The route of a request from task `client` at `now`, with the CPU its nginx
    /// worker spends on `bytes`; None: no nginx reachable, or no live upstream.
    fn route(
        &mut self,
        now: SimTime,
        client: usize,
        bytes: u64,
    ) -> (Option<Route>, Option<NginxCpu>) {
        let Ok(gateway) = self.gateway(client) else {
            return (None, None);
        };
        let Some((gi, dialled)) = gateway else {
            // Straight to MinIO: the servers share the transfer (see object_read).
            return (
                Some(Route {
                    via: None,
                    coordinator: 0,
                    start: now,
                }),
                None,
            );
        };
        let g = self.nginx_tasks[gi];
        let cfg = &self.upstream.cfg;
        let cpu = (
            self.tasks[g].host,
            self.usage[self.tasks[g].usage].cpu_owner,
            cfg.cpu_us_per_request * 1e3 + bytes as f64 * cfg.cpu_ns_per_byte,
        );
        let connect_timeout = cfg.proxy_connect_timeout.min(self.failover.tcp_syn_timeout);
        let worker = self.upstream.worker(gi, self.tasks[g].gen as u32);
        let mut tried = vec![false; self.minio_tasks.len()];
        // The request reaches nginx once its connect got through.
        let reached = now + dialled;
        let mut at = reached;
        let route = loop {
            // GUESS (a simulation shortcut): the next server after a failed attempt
            // is chosen from what the worker knew when the request came in (before
            // the client's own connect waits too).
            let Some(s) = self.upstream.pick(gi, worker, now, &tried) else {
                self.upstream.stats.no_live_upstream += 1;
                break None;
            };
            tried[s] = true;
            let m = self.minio_tasks[s];
            let host_up = self.hosts[self.tasks[m].host].up;
            let reachable = self.tasks_reachable(g, m);
            if self.tasks[m].up && host_up && reachable {
                let st = &mut self.upstream.stats;
                st.requests += 1;
                st.per_server[s] += 1;
                break Some(Route {
                    via: Some((g, gi, worker)),
                    coordinator: s,
                    start: at,
                });
            }
            // Refused at once by a running host; a dead or cut-off one answers
            // nothing until the connect times out, until Swarm declares its node
            // down (reference §2.10): nginx's `server minio1:9000` is the service's
            // virtual IP (no endpoint_mode in the users' stack), and IPVS answers a
            // connect to a virtual service with no task left with ICMP port
            // unreachable (Linux ip_vs_leave; not in the reference): refused.
            let vip_empty = self.hosts[self.tasks[m].host].swarm_down;
            let wait = if host_up && reachable || vip_empty {
                SimDuration::ZERO
            } else {
                connect_timeout
            };
            at += wait;
            self.upstream.ends(gi, worker, s, at, true);
            self.upstream.stats.attempts_failed += 1;
        };
        if at > reached {
            let st = &mut self.upstream.stats;
            st.requests_delayed += 1;
            st.connect_wait_ns += (at - reached).0;
        }
        (route, Some(cpu))
    }

    /// The request on `route` ends at `at` (nginx counts it out of the server).
    fn route_ends(&mut self, route: &Route, at: SimTime) {
        if let Some((_, gi, worker)) = route.via {
            self.upstream.ends(gi, worker, route.coordinator, at, false);
        }
    }

    /// Object storage servers that run now and that task `near` can reach.
    fn minio_up(&self, near: usize) -> Vec<usize> {
        self.minio_tasks
            .iter()
            .copied()
            .filter(|&t| {
                self.tasks[t].up
                    && self.hosts[self.tasks[t].host].up
                    && self.tasks_reachable(t, near)
            })
            .collect()
    }

    /// (drives per server, data drives of the erasure set, write quorum in drives).
    fn erasure(&self) -> (usize, usize, usize) {
        // A standalone's storage is its local disk: one drive, no erasure coding.
        let per_server = if self.local_storage {
            1
        } else {
            MINIO_DRIVES_PER_SERVER
        };
        let drives = self.minio_tasks.len() * per_server;
        let parity = minio_parity(drives);
        let data = drives - parity;
        // reference §2.9: write quorum = data drives, +1 when parity is exactly half.
        (per_server, data, data + usize::from(parity * 2 == drives))
    }

    /// Bulk bytes over the network from `at`, `queued` behind the NICs' other bulk
    /// transfers; a request held back by a connect timeout is not queued (reserving
    /// its slot now would block the NICs until it starts).
    fn bulk(&mut self, queued: bool, at: SimTime, src: usize, dst: usize, bytes: u64) -> SimTime {
        if queued {
            self.net.transfer_bulk(at, src, dst, bytes)
        } else {
            self.net.transfer_bulk_later(at, src, dst, bytes)
        }
    }

    fn disk_read(&mut self, queued: bool, at: SimTime, host: usize, bytes: u64) -> SimTime {
        let d = &mut self.hosts[host].disk_read;
        if queued {
            d.reserve(at, bytes)
        } else {
            d.unqueued(at, bytes)
        }
    }

    fn disk_write(&mut self, queued: bool, at: SimTime, host: usize, bytes: u64) -> SimTime {
        let d = &mut self.hosts[host].disk_write;
        if queued {
            d.reserve(at, bytes)
        } else {
            d.unqueued(at, bytes)
        }
    }

    /// [`minio_read_via`] without the CPU: the result and the nginx worker's work.
    fn object_read(
        &mut self,
        now: SimTime,
        to: usize,
        bytes: u64,
    ) -> (Option<(SimTime, Vec<usize>)>, Option<NginxCpu>) {
        let (route, cpu) = self.route(now, to, bytes);
        let Some(route) = route else {
            return (None, cpu);
        };
        let done = match route.via {
            None => self.read_direct(now, to, bytes),
            Some((g, _, _)) => self.read_through(now, &route, g, to, bytes),
        };
        self.route_ends(&route, done.as_ref().map_or(route.start, |d| d.0));
        (done, cpu)
    }

    /// [`minio_write`] without the CPU: the result and the nginx worker's work.
    fn object_write(
        &mut self,
        now: SimTime,
        from: usize,
        bytes: u64,
    ) -> (Option<SimTime>, Option<NginxCpu>) {
        let (route, cpu) = self.route(now, from, bytes);
        let Some(route) = route else {
            return (None, cpu);
        };
        let near = match route.via {
            None => from,
            Some(_) => self.minio_tasks[route.coordinator],
        };
        // A server whose disk is full takes no new objects: its drives count as
        // missing for the write quorum, as a dead server's do (inference from §2.9).
        let servers: Vec<usize> = self
            .minio_up(near)
            .into_iter()
            .filter(|&m| !self.hosts[self.tasks[m].host].disk_full)
            .collect();
        let (per_server_drives, data, quorum) = self.erasure();
        let done = if servers.is_empty() || servers.len() * per_server_drives < quorum {
            None
        } else if !self.storage.fits(bytes) {
            self.storage_full(now, from);
            None
        } else {
            let per_server = (bytes.div_ceil(data as u64)) * per_server_drives as u64;
            Some(match route.via {
                None => self.write_direct(now, from, &servers, per_server),
                Some((g, _, _)) => {
                    self.write_through(now, &route, g, from, &servers, bytes, per_server)
                }
            })
        };
        self.route_ends(&route, done.unwrap_or(route.start));
        (done, cpu)
    }

    /// The drives are full: MinIO refuses the object and the writer retries.
    fn storage_full(&mut self, now: SimTime, from: usize) {
        if self.storage.full_at.is_some() {
            return;
        }
        self.storage.full_at = Some(now);
        let detail = format!(
            "object storage is full: {:.1} GB held (x{:.2} erasure coding) on {:.1} GB of MinIO disks; writes fail until garbage collection frees space",
            (self.storage.live_bytes + self.storage.garbage_bytes) as f64 / 1e9,
            self.storage.expansion,
            self.storage.capacity_bytes as f64 / 1e9
        );
        self.task_event(now, "object_storage_full", from, detail);
    }

    /// Without nginx (a standalone's local disk): each running server reads its
    /// share from disk and sends it to the reader (reference §2.9: any read quorum
    /// serves a read).
    fn read_direct(
        &mut self,
        now: SimTime,
        to: usize,
        bytes: u64,
    ) -> Option<(SimTime, Vec<usize>)> {
        let servers = self.minio_up(to);
        let (per_server, data, _) = self.erasure();
        if servers.is_empty() || servers.len() * per_server < data {
            return None;
        }
        let share = bytes.div_ceil(servers.len() as u64);
        let dst = self.task_endpoint(to);
        let mut done = now;
        let mut sources = Vec::new();
        for m in servers {
            let host = self.tasks[m].host;
            let read = self.disk_read(true, now, host, share);
            let u = self.tasks[m].usage;
            self.usage[u].disk_read.add_at(read, share as f64);
            self.usage[u].net_tx.add_at(read, share as f64);
            let qu = self.tasks[to].usage;
            self.usage[qu].net_rx.add_at(read, share as f64);
            let src = self.hosts[host].endpoint;
            sources.push(src);
            done = done.max(self.net.transfer_bulk(read, src, dst, share));
        }
        Some((done, sources))
    }

    /// Through nginx task `g`: the coordinator gathers the shards from the servers
    /// it reaches (each reads its share from its disks) and streams the object to
    /// nginx, which streams it to the reader.
    fn read_through(
        &mut self,
        now: SimTime,
        route: &Route,
        g: usize,
        to: usize,
        bytes: u64,
    ) -> Option<(SimTime, Vec<usize>)> {
        let c = self.minio_tasks[route.coordinator];
        let servers = self.minio_up(c);
        let (per_server, data, _) = self.erasure();
        // reference §2.9: a read needs as many drives as hold data.
        if servers.len() * per_server < data {
            return None;
        }
        let (at, queued) = (route.start, route.start <= now);
        let share = bytes.div_ceil(servers.len() as u64);
        let c_ep = self.task_endpoint(c);
        let cu = self.tasks[c].usage;
        let mut done = at;
        for m in servers {
            let host = self.tasks[m].host;
            let read = self.disk_read(queued, at, host, share);
            let u = self.tasks[m].usage;
            self.usage[u].disk_read.add_at(read, share as f64);
            if m != c {
                let got = self.bulk(queued, read, self.hosts[host].endpoint, c_ep, share);
                self.usage[u].net_tx.add_at(got, share as f64);
                self.usage[cu].net_rx.add_at(got, share as f64);
                done = done.max(got);
            } else {
                done = done.max(read);
            }
        }
        let (g_ep, dst) = (self.task_endpoint(g), self.task_endpoint(to));
        let at_g = self.bulk(queued, at, c_ep, g_ep, bytes);
        let at_to = self.bulk(queued, at, g_ep, dst, bytes);
        let gu = self.tasks[g].usage;
        self.usage[cu].net_tx.add_at(at_g, bytes as f64);
        self.usage[gu].net_rx.add_at(at_g, bytes as f64);
        self.usage[gu].net_tx.add_at(at_to, bytes as f64);
        let tu = self.tasks[to].usage;
        self.usage[tu].net_rx.add_at(at_to, bytes as f64);
        Some((done.max(at_g).max(at_to), vec![g_ep]))
    }

    /// Without nginx: the writer sends each server its shards, which it writes.
    fn write_direct(
        &mut self,
        now: SimTime,
        from: usize,
        servers: &[usize],
        per_server: u64,
    ) -> SimTime {
        let src = self.task_endpoint(from);
        let fu = self.tasks[from].usage;
        let mut done = now;
        for &m in servers {
            let host = self.tasks[m].host;
            let dst = self.hosts[host].endpoint;
            self.usage[fu].net_tx.add_at(now, per_server as f64);
            let arrived = self.net.transfer_bulk(now, src, dst, per_server);
            let u = self.tasks[m].usage;
            self.usage[u].net_rx.add_at(arrived, per_server as f64);
            let written = self.disk_write(true, arrived, host, per_server);
            self.usage[u].disk_write.add_at(written, per_server as f64);
            done = done.max(written);
        }
        done
    }

    /// Through nginx task `g`: the writer streams the object to nginx, nginx to the
    /// coordinator, which erasure codes it as it comes and sends each server its
    /// shards (its own go to its disks).
    #[allow(clippy::too_many_arguments)]
    fn write_through(
        &mut self,
        now: SimTime,
        route: &Route,
        g: usize,
        from: usize,
        servers: &[usize],
        bytes: u64,
        per_server: u64,
    ) -> SimTime {
        let (at, queued) = (route.start, route.start <= now);
        let c = self.minio_tasks[route.coordinator];
        let (src, g_ep, c_ep) = (
            self.task_endpoint(from),
            self.task_endpoint(g),
            self.task_endpoint(c),
        );
        let at_g = self.bulk(queued, at, src, g_ep, bytes);
        let at_c = self.bulk(queued, at, g_ep, c_ep, bytes);
        let (fu, gu, cu) = (
            self.tasks[from].usage,
            self.tasks[g].usage,
            self.tasks[c].usage,
        );
        self.usage[fu].net_tx.add_at(at_g, bytes as f64);
        self.usage[gu].net_rx.add_at(at_g, bytes as f64);
        self.usage[gu].net_tx.add_at(at_c, bytes as f64);
        self.usage[cu].net_rx.add_at(at_c, bytes as f64);
        let arrived = at_g.max(at_c);
        let mut done = arrived;
        for &m in servers {
            let host = self.tasks[m].host;
            let u = self.tasks[m].usage;
            let got = if m == c {
                arrived
            } else {
                let got = self.bulk(queued, at, c_ep, self.hosts[host].endpoint, per_server);
                self.usage[cu].net_tx.add_at(got, per_server as f64);
                self.usage[u].net_rx.add_at(got, per_server as f64);
                got.max(arrived)
            };
            let written = self.disk_write(queued, got, host, per_server);
            self.usage[u].disk_write.add_at(written, per_server as f64);
            done = done.max(written);
        }
        done
    }
}
