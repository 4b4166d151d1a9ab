//! How the loaded collection sits on the query nodes: segments, replicas, shard
//! leaders, and the memory each node needs.

use priority_queue::PriorityQueue;
use std::cmp::Reverse;

use crate::hw::cost::{diskann_local_disk_bytes, segment_memory_bytes, QUERY_NODE_MAX_DISK_USAGE};
use crate::scenario::experiment::Experiment;
use crate::scenario::topology::ServiceKind;
use crate::scenario::units::format_bytes;
use crate::scenario::InputError;

/// GUESS: resident memory of an idle Milvus 2.3 process (Go runtime, segcore pools,
/// caches) before it holds any data. Replaced when the cluster issue measures it.
pub const PROCESS_BASE_BYTES: u64 = 256 << 20;

/// Upper bound on query nodes (searches record their delegator in a byte).
pub const MAX_QUERY_NODES: usize = 255;

/// Upper bound on sealed segments in one collection.
pub const MAX_SEGMENTS: u64 = 200_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: u64,
    pub shard: u32,
    pub rows: u64,
    pub memory_bytes: u64,
}

/// One replica: its query nodes, the node leading each shard, and where each segment
/// is loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Replica {
    /// Indexes into `Layout::query_nodes`.
    pub nodes: Vec<usize>,
    /// Per shard, the query node whose delegator leads it.
    pub leaders: Vec<usize>,
    /// Per segment (same order as `Layout::segments`), the node holding it.
    pub holder: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Placement task index of each query node.
    pub query_nodes: Vec<usize>,
    pub segments: Vec<Segment>,
    pub replicas: Vec<Replica>,
    pub max_rows_per_segment: u64,
    /// Bytes each query node holds (data + process), by query node index.
    pub node_memory_bytes: Vec<u64>,
}

impl Layout {
    /// Segments of `shard` held by `node` in `replica`.
    pub fn segments_on(
        &self,
        replica: usize,
        shard: u32,
        node: usize,
    ) -> impl Iterator<Item = &Segment> {
        let r = &self.replicas[replica];
        self.segments
            .iter()
            .enumerate()
            .filter(move |(i, s)| s.shard == shard && r.holder[*i] == node)
            .map(|(_, s)| s)
    }

    /// Query nodes of `replica` holding at least one segment of `shard`, in node order.
    pub fn workers(&self, replica: usize, shard: u32) -> Vec<usize> {
        let r = &self.replicas[replica];
        let mut w: Vec<usize> = self
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.shard == shard)
            .map(|(i, _)| r.holder[i])
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    }
}

/// Splits the collection into sealed segments and loads it as the query coordinator
/// would, or explains why it does not fit.
pub fn plan(exp: &Experiment) -> Result<Layout, InputError> {
    let c = &exp.collection;
    let topo = &exp.topology;
    let query_nodes: Vec<usize> = exp
        .placement
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| topo.services[t.service].kind == ServiceKind::Querynode)
        .map(|(i, _)| i)
        .collect();
    let at = |spot: &crate::scenario::topology::SourceSpot, msg: String| InputError {
        file: exp.path.clone(),
        line: spot.line,
        column: spot.column,
        message: msg,
        hint: None,
    };
    let at_rows = |msg: String| at(&c.rows_at, msg);
    if query_nodes.len() > MAX_QUERY_NODES {
        return Err(at(
            &c.replicas_at,
            format!(
                "the topology places {} query nodes; simctl handles at most {MAX_QUERY_NODES}",
                query_nodes.len()
            ),
        )
        .with_hint("lower the query nodes' replicas in the topology"));
    }
    if query_nodes.len() < c.replicas as usize {
        return Err(at(
            &c.replicas_at,
            format!(
                "{} replicas need at least {} query nodes, the topology places {}",
                c.replicas,
                c.replicas,
                query_nodes.len()
            ),
        )
        .with_hint("lower collection.replicas or add query nodes"));
    }

    // reference §1.13: max rows = dataCoord.segment.maxSize (MiB) / estimated row size
    // (diskSegmentMaxSize for DISKANN, §1.5), the system fields counted.
    let max_rows = exp.segment_max_rows();
    let rows_per_segment = ((max_rows as f64 * c.segment_fill) as u64).max(1);
    // Bound the work of planning and simulating: a million segments means the segment
    // size or the fill is far off what Milvus would produce.
    let segments_needed = c.rows.div_ceil(rows_per_segment);
    if segments_needed > MAX_SEGMENTS {
        return Err(at_rows(format!(
            "{} rows in segments of {rows_per_segment} rows make {segments_needed} segments, more than simctl handles ({MAX_SEGMENTS})",
            c.rows
        ))
        .with_hint("raise dataCoord.segment.maxSize or collection.segment_fill"));
    }
    let mut segments = Vec::new();
    for shard in 0..c.shards {
        // Rows hash evenly over shards; the first shards take the remainder.
        let shard_rows =
            c.rows / c.shards as u64 + u64::from((shard as u64) < c.rows % c.shards as u64);
        let mut left = shard_rows;
        while left > 0 {
            let rows = left.min(rows_per_segment);
            left -= rows;
            segments.push(Segment {
                id: segments.len() as u64 + 1,
                shard,
                rows,
                memory_bytes: segment_memory_bytes(&c.index, rows, c.row_bytes),
            });
        }
    }

    // Nodes join replicas round-robin (resource-group assignment, reference §2.2);
    // nodes that do not run at the start (their host is off, or a scale_service adds
    // them later) join when they come up.
    let off = exp.tasks_off_at_start();
    let running: Vec<usize> = (0..query_nodes.len())
        .filter(|&n| !off.contains(&query_nodes[n]))
        .collect();
    let r = c.replicas as usize;
    if running.len() < r {
        return Err(at(
            &c.replicas_at,
            format!(
                "{} replicas need at least {} running query nodes at the start; {} of the {} start on hosts that are off",
                c.replicas,
                c.replicas,
                query_nodes.len() - running.len(),
                query_nodes.len()
            ),
        )
        .with_hint("lower collection.replicas or start fewer hosts later"));
    }
    let mut replicas = Vec::new();
    for ri in 0..r {
        let nodes: Vec<usize> = running
            .iter()
            .enumerate()
            .filter(|(k, _)| k % r == ri)
            .map(|(_, &n)| n)
            .collect();
        replicas.push(Replica {
            leaders: assign_channels(&nodes, c.shards),
            holder: assign_segments(
                &nodes,
                &segments,
                exp.milvus.get("queryCoord.globalRowCountFactor"),
            ),
            nodes,
        });
    }

    let mut node_memory_bytes = vec![PROCESS_BASE_BYTES; query_nodes.len()];
    for rep in &replicas {
        for (i, s) in segments.iter().enumerate() {
            node_memory_bytes[rep.holder[i]] += s.memory_bytes;
        }
    }

    // reference §1.8: the load guard refuses a load above 90 % of the host's memory.
    let guard = exp
        .milvus
        .get("queryCoord.overloadedMemoryThresholdPercentage")
        / 100.0;
    for (host_idx, host) in topo.hosts.iter().enumerate() {
        let on_host: u64 = query_nodes
            .iter()
            .enumerate()
            .filter(|(_, &t)| exp.placement.tasks[t].host == host_idx)
            .map(|(n, _)| node_memory_bytes[n])
            .sum();
        let limit = (host.memory_bytes as f64 * guard) as u64;
        if on_host > limit {
            let total: u64 =
                segments.iter().map(|s| s.memory_bytes).sum::<u64>() * c.replicas as u64;
            return Err(at_rows(format!(
                "the collection cannot be loaded: {} rows x {} dims as {} with {} replica(s) needs {} in all, and query host {} ({}) would hold {}, above its load guard of {} ({}% of {})",
                c.rows,
                c.index.dim,
                c.index.kind.name(),
                c.replicas,
                format_bytes(total),
                host.name,
                host.address,
                format_bytes(on_host),
                format_bytes(limit),
                guard * 100.0,
                format_bytes(host.memory_bytes)
            ))
            .with_hint("add query nodes, give the query hosts more memory, choose a smaller index (IVF_SQ8, IVF_PQ) or load fewer replicas"));
        }
    }

    // reference §1.8: DISKANN segments also sit on the query host's local disk, up to
    // queryNode.maxDiskUsagePercentage of it.
    for (host_idx, host) in topo.hosts.iter().enumerate() {
        let on_host: u64 = replicas
            .iter()
            .flat_map(|rep| rep.holder.iter().zip(&segments))
            .filter(|(&n, _)| exp.placement.tasks[query_nodes[n]].host == host_idx)
            .map(|(_, s)| diskann_local_disk_bytes(&c.index, s.rows))
            .sum();
        let limit = (host.disk.size_bytes as f64 * QUERY_NODE_MAX_DISK_USAGE) as u64;
        if on_host > limit {
            return Err(at_rows(format!(
                "the DISKANN index does not fit on query host {} ({}): it would hold {} of index files on its {} disk, above the {} (queryNode.maxDiskUsagePercentage {}%) Milvus allows",
                host.name,
                host.address,
                format_bytes(on_host),
                format_bytes(host.disk.size_bytes),
                format_bytes(limit),
                QUERY_NODE_MAX_DISK_USAGE * 100.0
            ))
            .with_hint("give the query hosts larger disks, add query nodes or load fewer replicas"));
        }
    }

    Ok(Layout {
        query_nodes,
        segments,
        replicas,
        max_rows_per_segment: max_rows,
        node_memory_bytes,
    })
}

/// Shard leaders: each DML channel goes to the node with the fewest channels so far
/// (ties to the earlier node). [inference: 2.3 assigns channels by channel count]
fn assign_channels(nodes: &[usize], shards: u32) -> Vec<usize> {
    let mut count = vec![0u32; nodes.len()];
    (0..shards)
        .map(|_| {
            let i = (0..nodes.len())
                .min_by_key(|&i| (count[i], i))
                .expect("a replica has nodes");
            count[i] += 1;
            nodes[i]
        })
        .collect()
}

/// reference §1.7, score-based balancer: segments sorted by rows, largest first; each
/// goes to the node with the lowest priority (rows of this collection + factor x rows
/// of all collections), which then rises by rows x (1 + factor). With one collection
/// both terms count the same rows.
fn assign_segments(nodes: &[usize], segments: &[Segment], global_factor: f64) -> Vec<usize> {
    // Priorities in thousandths of a row keep the arithmetic in integers.
    let weight = ((1.0 + global_factor) * 1000.0).round() as u64;
    let mut queue: PriorityQueue<usize, Reverse<(u64, usize)>> = PriorityQueue::new();
    for (i, &n) in nodes.iter().enumerate() {
        queue.push(n, Reverse((0, i)));
    }
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by_key(|&i| (Reverse(segments[i].rows), segments[i].id));
    let mut holder = vec![0; segments.len()];
    for i in order {
        let (&node, &Reverse((prio, pos))) = queue.peek().expect("a replica has nodes");
        holder[i] = node;
        queue.change_priority(&node, Reverse((prio + segments[i].rows * weight, pos)));
    }
    holder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: u64, rows: u64) -> Segment {
        Segment {
            id,
            shard: 0,
            rows,
            memory_bytes: rows,
        }
    }

    #[test]
    fn the_balancer_evens_out_rows() {
        let segs: Vec<Segment> = (1..=10).map(|i| seg(i, 100 * i)).collect();
        let holder = assign_segments(&[0, 1, 2], &segs, 0.1);
        let mut rows = [0u64; 3];
        for (i, s) in segs.iter().enumerate() {
            rows[holder[i]] += s.rows;
        }
        let (lo, hi) = (rows.iter().min().unwrap(), rows.iter().max().unwrap());
        assert!(hi - lo <= 1000, "rows per node {rows:?}");
        // Largest segment first, to the first node.
        assert_eq!(holder[9], 0);
    }

    #[test]
    fn channels_spread_over_nodes() {
        assert_eq!(assign_channels(&[3, 5], 3), vec![3, 5, 3]);
    }
}
