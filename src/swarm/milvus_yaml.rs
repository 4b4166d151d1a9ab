//! A `milvus.yaml`, as a stack mounts it into its Milvus services, read for what
//! `[milvus]` models: every key of [`KEYS`] whose value differs from its 2.3 default
//! becomes an override. Keys that differ from a default the reference documents but
//! are not modelled are listed; addresses are checked against the stack's services.

use super::marked_yaml::{Node, Value};
use super::stack_configs::{BadValue, NotModelled};
use crate::scenario::milvus_config::{MilvusConfig, SetError, KEYS};

/// A modelled key whose value differs from its 2.3 default.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub key: &'static str,
    pub value: f64,
    pub default: f64,
    pub unit: &'static str,
    pub line: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MilvusSettings {
    pub overrides: Vec<Override>,
    /// Keys neither modelled nor with a 2.3 default documented in the reference: not
    /// compared.
    pub not_compared: usize,
}

/// 2.3 defaults of keys simctl does not model, as the reference documents them (the
/// image's `milvus.yaml`, reference §0: the users' file is that file plus deployment
/// edits), to list where a file departs from them.
const UNMODELLED_DEFAULTS: &[(&str, &str, &str)] = &[
    (
        "mq.type",
        "default",
        "§0: the topology decides the message queue (Pulsar in a cluster, RocksMQ standalone)",
    ),
    (
        "common.session.ttl",
        "60",
        "§1.2: sessions expire after 60 s",
    ),
    ("common.gracefulStopTimeout", "1800", "§1.2"),
    ("grpc.client.dialTimeout", "200", "§1.2"),
    ("grpc.client.keepAliveTime", "10000", "§1.2"),
    ("grpc.client.keepAliveTimeout", "20000", "§1.2"),
    ("rootCoord.dmlChannelNum", "16", "§1.3: 16 DML channels"),
    ("rootCoord.maxPartitionNum", "4096", "§1.3"),
    ("proxy.maxShardNum", "16", "§1.4"),
    ("proxy.maxDimension", "32768", "§1.4"),
    ("proxy.maxFieldNum", "64", "§1.4"),
    ("proxy.healthCheckTimetout", "3000", "§1.4"),
    ("dataCoord.segment.maxLife", "86400", "§1.5"),
    ("dataCoord.segment.maxBinlogFileNumber", "32", "§1.5"),
    ("dataCoord.segment.smallProportion", "0.5", "§1.5"),
    ("dataCoord.segment.compactableProportion", "0.85", "§1.5"),
    ("dataCoord.segment.expansionRate", "1.25", "§1.5"),
    ("dataCoord.enableCompaction", "true", "§1.5"),
    ("dataCoord.compaction.indexBasedCompaction", "true", "§1.5"),
    ("dataCoord.gc.missingTolerance", "3600", "§1.5"),
    ("dataCoord.channel.watchTimeoutInterval", "300", "§1.5"),
    ("dataNode.dataSync.flowGraph.maxQueueLength", "16", "§1.6"),
    ("dataNode.dataSync.flowGraph.maxParallelism", "1024", "§1.6"),
    ("queryCoord.autoHandoff", "true", "§1.7"),
    ("queryCoord.autoBalance", "true", "§1.7"),
    (
        "queryCoord.balancer",
        "ScoreBasedBalancer",
        "§1.7: the score-based balancer",
    ),
    ("queryCoord.scoreUnbalanceTolerationFactor", "0.05", "§1.7"),
    ("queryCoord.reverseUnBalanceTolerationFactor", "1.3", "§1.7"),
    ("queryCoord.checkInterval", "1000", "§1.7"),
    (
        "queryCoord.distPullInterval",
        "500",
        "§1.7: the query nodes' heartbeat",
    ),
    (
        "queryCoord.heartbeatAvailableInterval",
        "10000",
        "§1.7: offline after 10 s",
    ),
    ("queryCoord.channelTaskTimeout", "60000", "§1.7"),
    ("queryCoord.segmentTaskTimeout", "120000", "§1.7"),
    ("queryCoord.loadTimeoutSeconds", "600", "§1.7"),
    ("queryCoord.taskMergeCap", "1", "§1.7"),
    ("queryCoord.taskExecutionCap", "256", "§1.7"),
    ("queryCoord.brokerTimeout", "5000", "§1.7"),
    ("queryNode.scheduler.maxTimestampLag", "86400", "§1.1"),
    (
        "queryNode.scheduler.scheduleReadPolicy.name",
        "fifo",
        "§1.8",
    ),
    ("queryNode.segcore.chunkRows", "1024", "§1.8"),
    ("queryNode.grouping.maxNQ", "1000", "§1.8"),
    ("queryNode.grouping.topKMergeRatio", "20", "§1.8"),
    ("queryNode.maxDiskUsagePercentage", "95", "§1.8"),
    ("queryNode.cache.enabled", "true", "§1.8"),
    ("queryNode.stats.publishInterval", "1000", "§1.8"),
    ("indexNode.enableDisk", "true", "§1.9"),
    ("indexNode.maxDiskUsagePercentage", "95", "§1.9"),
    ("common.indexSliceSize", "16", "§1.9"),
    ("quotaAndLimits.enabled", "true", "§1.11"),
    ("quotaAndLimits.quotaCenterCollectInterval", "3", "§1.11"),
];

/// Keys naming where Milvus finds etcd, MinIO and Pulsar (reference §1.10): in a
/// stack, names of its services.
const ADDRESS_KEYS: &[&str] = &["etcd.endpoints", "minio.address", "pulsar.address"];

/// The leaves of a YAML mapping as dotted keys, in file order.
fn leaves<'a>(prefix: &str, node: &'a Node, out: &mut Vec<(String, &'a Node)>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let name = k.as_str().unwrap_or("");
                let key = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                leaves(&key, v, out);
            }
        }
        _ => out.push((prefix.to_string(), node)),
    }
}

/// A YAML scalar as a number: booleans are 1 and 0 (Milvus reads `true`/`false`).
fn number(node: &Node) -> Option<f64> {
    let text = node.as_str()?.trim();
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(1.0),
        "false" => Some(0.0),
        t => t.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// A default as written in YAML: words quoted, numbers and booleans bare.
fn shown(v: &str) -> String {
    if v.parse::<f64>().is_ok() || v == "true" || v == "false" {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

fn same(written: &str, default: &str) -> bool {
    match (written.parse::<f64>(), default.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => written.eq_ignore_ascii_case(default),
    }
}

/// Reads the settings of `[milvus]` from a parsed milvus.yaml; `services` are the
/// stack's service names, which the addresses must name.
pub fn settings(
    doc: &Node,
    services: &[String],
    not_modelled: &mut Vec<NotModelled>,
) -> Result<MilvusSettings, Vec<BadValue>> {
    if doc.as_map().is_none() {
        return Err(vec![BadValue {
            line: doc.line,
            message: format!(
                "a milvus.yaml is a mapping of sections, not {}",
                doc.describe()
            ),
            hint: "mount the file Milvus reads, configs/milvus.yaml of its image with your edits"
                .into(),
        }]);
    }
    let mut all = Vec::new();
    leaves("", doc, &mut all);
    let mut out = MilvusSettings::default();
    let mut bad = Vec::new();
    let mut config = MilvusConfig::default();
    for (key, node) in all {
        // Milvus matches keys without regard to case (its paramtable lowercases them).
        if let Some(k) = KEYS.iter().find(|k| k.name.eq_ignore_ascii_case(&key)) {
            let Some(value) = number(node) else {
                bad.push(BadValue {
                    line: node.line,
                    message: format!("{key} is {}, not a number", quoted(node)),
                    hint: format!(
                        "write a number in {} (the 2.3 default is {}), or remove the line to keep the default",
                        if k.unit.is_empty() { "the key's unit" } else { k.unit },
                        k.default
                    ),
                });
                continue;
            };
            match config.set(k.name, value) {
                Ok(()) => {}
                Err(SetError::OutOfRange { min, max, unit }) => {
                    bad.push(BadValue {
                        line: node.line,
                        message: format!("{key} = {value} is out of the range simctl models"),
                        hint: format!("simctl accepts {min} to {max} {unit} for it"),
                    });
                    continue;
                }
                Err(SetError::Unknown) => unreachable!("{} is listed in KEYS", k.name),
            }
            if value != k.default {
                out.overrides.push(Override {
                    key: k.name,
                    value,
                    default: k.default,
                    unit: k.unit,
                    line: node.line,
                });
            }
        } else if let Some((name, default, source)) = UNMODELLED_DEFAULTS
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&key))
        {
            let written = node.as_str().unwrap_or("");
            if !same(written, default) {
                not_modelled.push(NotModelled {
                    line: node.line,
                    what: format!("{name}: {written}"),
                    why: format!(
                        "not modelled (2.3 default {}; reference {source})",
                        shown(default)
                    ),
                });
            }
        } else if let Some(a) = ADDRESS_KEYS.iter().find(|a| a.eq_ignore_ascii_case(&key)) {
            check_address(a, node, services, not_modelled);
        } else {
            out.not_compared += 1;
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

fn quoted(node: &Node) -> String {
    match node.as_str() {
        Some(s) => format!("{s:?}"),
        None => node.describe().to_string(),
    }
}

/// Flags an address whose hosts are no service of the stack: the Milvus services
/// would not reach etcd, MinIO or Pulsar there.
fn check_address(key: &str, node: &Node, services: &[String], not_modelled: &mut Vec<NotModelled>) {
    let text = node.as_str().unwrap_or("");
    for addr in text.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let rest = addr.split_once("://").map(|(_, r)| r).unwrap_or(addr);
        let host = rest.split([':', '/']).next().unwrap_or("");
        if !services.iter().any(|s| s == host) {
            not_modelled.push(NotModelled {
                line: node.line,
                what: format!("{key}: {addr}"),
                why: "names no service of the stack files: the Milvus services would not reach it there; simctl connects them to the topology's services all the same".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Result<MilvusSettings, Vec<BadValue>>, Vec<NotModelled>) {
        let doc = super::super::marked_yaml::parse(text).unwrap();
        let services = ["etcd-proxy".to_string(), "minio-proxy".to_string()];
        let mut nm = Vec::new();
        (settings(&doc, &services, &mut nm), nm)
    }

    #[test]
    fn overrides_only_where_the_value_differs() {
        let (s, nm) = read(
            "etcd:\n  endpoints: etcd-proxy:23790\nminio:\n  address: minio-proxy\nmq:\n  type: pulsar\nproxy:\n  maxTaskNum: 1024\n  timeTickInterval: 100\nqueryNode:\n  enableDisk: true\ndatanode:\n  timetick:\n    interval: 500\nlog:\n  level: debug\n",
        );
        let s = s.unwrap();
        let got: Vec<(&str, f64, usize)> = s
            .overrides
            .iter()
            .map(|o| (o.key, o.value, o.line))
            .collect();
        assert_eq!(
            got,
            [
                ("proxy.timeTickInterval", 100.0, 9),
                ("queryNode.enableDisk", 1.0, 11)
            ]
        );
        assert_eq!(s.not_compared, 1);
        assert_eq!(nm.len(), 1, "{nm:?}");
        assert_eq!((nm[0].line, nm[0].what.as_str()), (6, "mq.type: pulsar"));
    }

    #[test]
    fn bad_values_name_their_line() {
        let (s, _) =
            read("proxy:\n  maxTaskNum: lots\ndataCoord:\n  segment:\n    sealProportion: 2\n");
        let e = s.unwrap_err();
        assert_eq!(e.iter().map(|b| b.line).collect::<Vec<_>>(), [2, 5]);
        assert!(e[0].message.contains("\"lots\", not a number"), "{e:?}");
        assert!(e[1].hint.contains("0.0001 to 1"), "{e:?}");
        let (s, _) = read("- a\n- b\n");
        assert!(s.unwrap_err()[0].message.contains("not a list"));
    }

    #[test]
    fn addresses_outside_the_stack_are_flagged() {
        let (_, nm) =
            read("pulsar:\n  address: pulsar://broker:6650\nminio:\n  address: minio-proxy\n");
        assert_eq!(nm.len(), 1, "{nm:?}");
        assert!(nm[0].what.contains("pulsar://broker:6650"));
    }
}
