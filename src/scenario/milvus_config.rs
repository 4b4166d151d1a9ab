//! Milvus configuration keys simctl models, with their 2.3 defaults.
//!
//! Experiments override them by their `milvus.yaml` names under `[milvus]`. Every
//! default cites reference/milvus-2.3.md; a key that is not listed here is rejected,
//! because silently accepting a setting the model ignores would mislead.

use std::collections::BTreeMap;

/// One modelled key: its 2.3 default, the range simctl accepts, unit and source.
pub struct Key {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
    pub source: &'static str,
}

const fn key(
    name: &'static str,
    default: f64,
    min: f64,
    max: f64,
    unit: &'static str,
    source: &'static str,
) -> Key {
    Key {
        name,
        default,
        min,
        max,
        unit,
        source,
    }
}

pub const KEYS: &[Key] = &[
    key(
        "dataCoord.segment.maxSize",
        512.0,
        1.0,
        65536.0,
        "MB",
        "§1.5: max rows = maxSize / row size",
    ),
    key(
        "dataCoord.segment.diskSegmentMaxSize",
        2048.0,
        1.0,
        65536.0,
        "MB",
        "§1.5: the segment size instead of maxSize when the collection has a DiskANN index (yaml 2048; code default 512)",
    ),
    key(
        "proxy.maxTaskNum",
        1024.0,
        1.0,
        1e6,
        "tasks",
        "§1.4: length of each proxy task queue",
    ),
    key(
        "proxy.timeTickInterval",
        200.0,
        1.0,
        60_000.0,
        "ms",
        "§1.1: rootcoord time-tick period",
    ),
    key(
        "proxy.shardLeaderCacheInterval",
        10.0,
        0.001,
        3600.0,
        "s",
        "§1.4: shard-leader cache goes stale",
    ),
    key(
        "common.gracefulTime",
        5000.0,
        0.0,
        86_400_000.0,
        "ms",
        "§1.1: Bounded staleness window",
    ),
    key(
        "queryNode.scheduler.maxReadConcurrentRatio",
        1.0,
        0.01,
        100.0,
        "x cores",
        "§1.8: concurrent read tasks per QN",
    ),
    key(
        "queryNode.scheduler.scheduleReadPolicy.maxPendingTask",
        10240.0,
        0.0,
        1e7,
        "tasks",
        "§1.8: queued read tasks per QN",
    ),
    key(
        "queryNode.segcore.cgoPoolSizeRatio",
        2.0,
        0.01,
        100.0,
        "x cores",
        "§1.8: cgo search pool per QN",
    ),
    key(
        "queryNode.segcore.knowhereThreadPoolNumRatio",
        4.0,
        1.0,
        32.0,
        "x cores",
        "§1.8: knowhere search threads per QN core, with enableDisk (else 1)",
    ),
    key(
        "queryNode.enableDisk",
        0.0,
        0.0,
        1.0,
        "bool",
        "§1.8: DiskANN loads allowed (image default false; the users set true)",
    ),
    key(
        "common.DiskIndex.MaxDegree",
        56.0,
        1.0,
        512.0,
        "links",
        "§1.9: DISKANN graph degree",
    ),
    key(
        "common.DiskIndex.SearchListSize",
        100.0,
        1.0,
        65536.0,
        "candidates",
        "§1.9: DISKANN candidate list while building",
    ),
    key(
        "common.DiskIndex.PQCodeBudgetGBRatio",
        0.125,
        0.001,
        1.0,
        "x raw bytes",
        "§1.9: DISKANN PQ codes kept in memory",
    ),
    key(
        "common.DiskIndex.SearchCacheBudgetGBRatio",
        0.1,
        0.0,
        1.0,
        "x raw bytes",
        "§1.9: DISKANN search cache (nodes near the entry point kept in memory)",
    ),
    key(
        "common.DiskIndex.BeamWidthRatio",
        4.0,
        0.01,
        64.0,
        "x cores",
        "§1.9: DISKANN reads per hop",
    ),
    key(
        "queryCoord.overloadedMemoryThresholdPercentage",
        90.0,
        1.0,
        100.0,
        "%",
        "§1.7/§1.8: load guard",
    ),
    key(
        "queryCoord.globalRowCountFactor",
        0.1,
        0.0,
        10.0,
        "",
        "§1.7: score-based balancer",
    ),
    key(
        "dataCoord.segment.sealProportion",
        0.23,
        0.0001,
        1.0,
        "x max rows",
        "§1.5: a growing segment is sealed at this share of max rows",
    ),
    key(
        "dataCoord.segment.assignmentExpiration",
        2000.0,
        1.0,
        3_600_000.0,
        "ms",
        "§1.5/§3.3: a sealed segment is flushed once its row allocations expired",
    ),
    key(
        "dataCoord.segment.maxIdleTime",
        600.0,
        1.0,
        2_592_000.0,
        "s",
        "§1.5: seal a segment idle this long (and above minSizeFromIdleToSealed)",
    ),
    key(
        "dataCoord.segment.minSizeFromIdleToSealed",
        16.0,
        0.0,
        65536.0,
        "MB",
        "§1.5: idle sealing applies above this size",
    ),
    key(
        "dataCoord.compaction.enableAutoCompaction",
        1.0,
        0.0,
        1.0,
        "bool",
        "§1.5: merge small indexed segments",
    ),
    key(
        "dataCoord.compaction.global.interval",
        60.0,
        1.0,
        86_400.0,
        "s",
        "§1.5: the global compaction trigger's period",
    ),
    key(
        "datanode.timetick.interval",
        500.0,
        1.0,
        60000.0,
        "ms",
        "§1.1: data node ticks to datacoord, which decides seals and flushes on them",
    ),
    key(
        "dataNode.segment.insertBufSize",
        16_777_216.0,
        1024.0,
        100_000_000_000.0,
        "bytes",
        "§1.6: a segment buffer this large is synced to object storage",
    ),
    key(
        "dataCoord.enableGarbageCollection",
        1.0,
        0.0,
        1.0,
        "bool",
        "§1.5: datacoord removes the files of dropped segments",
    ),
    key(
        "dataCoord.gc.interval",
        3600.0,
        1.0,
        864000.0,
        "s",
        "§1.5: how often the garbage collector runs",
    ),
    key(
        "dataCoord.gc.dropTolerance",
        10800.0,
        0.0,
        8640000.0,
        "s",
        "§1.5: files of a dropped segment are kept this long",
    ),
    key(
        "dataNode.segment.deleteBufBytes",
        67_108_864.0,
        1024.0,
        100_000_000_000.0,
        "bytes",
        "§1.6: a channel's buffered deletes this large are written as deltalogs",
    ),
    key(
        "dataCoord.compaction.single.ratio.threshold",
        0.2,
        0.0,
        1.0,
        "ratio",
        "§1.5: a segment with this share of its rows deleted is compacted on its own",
    ),
    key(
        "dataCoord.compaction.single.deltalog.maxsize",
        2_097_152.0,
        1.0,
        100_000_000_000.0,
        "bytes",
        "§1.5: a segment with this many bytes of deletes is compacted on its own",
    ),
    key(
        "dataCoord.compaction.single.deltalog.maxnum",
        200.0,
        1.0,
        1_000_000.0,
        "files",
        "§1.5: a segment with this many deltalog files is compacted on its own",
    ),
    key(
        "dataNode.memory.forceSyncEnable",
        1.0,
        0.0,
        1.0,
        "bool",
        "§1.6: a data node syncs its largest buffer when memory runs high",
    ),
    key(
        "dataNode.memory.watermarkCluster",
        0.5,
        0.01,
        1.0,
        "ratio",
        "§1.6: the share of the host's memory in use above which buffers are force-synced",
    ),
    key(
        "dataNode.segment.syncPeriod",
        600.0,
        1.0,
        86400.0,
        "s",
        "§1.6: a non-empty buffer is synced at least this often",
    ),
    key(
        "dataNode.dataSync.maxParallelSyncTaskNum",
        6.0,
        1.0,
        1024.0,
        "tasks",
        "§1.6: parallel binlog syncs per data node",
    ),
    key(
        "indexCoord.segment.minSegmentNumRowsToEnableIndex",
        1024.0,
        0.0,
        1_000_000_000.0,
        "rows",
        "§1.5: smaller segments are marked indexed without a build",
    ),
    key(
        "indexCoord.scheduler.interval",
        1000.0,
        1.0,
        3_600_000.0,
        "ms",
        "§1.5/§1.9: datacoord's index-builder loop",
    ),
    key(
        "indexNode.scheduler.buildParallel",
        1.0,
        1.0,
        64.0,
        "builds",
        "§1.9: concurrent builds per index node",
    ),
    key(
        "pulsar.maxMessageSize",
        5_242_880.0,
        1024.0,
        1_000_000_000.0,
        "bytes",
        "§1.10/§3.3: the proxy splits inserts into messages this large",
    ),
    key(
        "queryNode.segcore.growing.enableIndex",
        1.0,
        0.0,
        1.0,
        "bool",
        "§1.8: interim IVF_FLAT index on growing segments",
    ),
    key(
        "queryNode.segcore.growing.nlist",
        128.0,
        1.0,
        65536.0,
        "lists",
        "§1.8: interim index lists",
    ),
    key(
        "queryNode.segcore.growing.nprobe",
        16.0,
        1.0,
        65536.0,
        "lists",
        "§1.8: interim index lists searched",
    ),
    key(
        "queryCoord.updateNextTargetInterval",
        10.0,
        0.1,
        3600.0,
        "s",
        "§1.7/§3.3: querycoord pulls flushed segments from datacoord this often",
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub enum SetError {
    Unknown,
    OutOfRange {
        min: f64,
        max: f64,
        unit: &'static str,
    },
}

/// Resolved Milvus settings for one run.
#[derive(Clone, Debug, PartialEq)]
pub struct MilvusConfig {
    values: BTreeMap<&'static str, f64>,
}

impl Default for MilvusConfig {
    fn default() -> Self {
        MilvusConfig {
            values: KEYS.iter().map(|k| (k.name, k.default)).collect(),
        }
    }
}

impl MilvusConfig {
    /// DISKANN's settings (`common.DiskIndex`, reference §1.9).
    pub fn disk_index(&self) -> crate::hw::cost::DiskAnnSpec {
        crate::hw::cost::DiskAnnSpec {
            max_degree: self.get("common.DiskIndex.MaxDegree") as u32,
            build_search_list: self.get("common.DiskIndex.SearchListSize") as u32,
            pq_code_budget_ratio: self.get("common.DiskIndex.PQCodeBudgetGBRatio"),
            beam_width_ratio: self.get("common.DiskIndex.BeamWidthRatio"),
            search_cache_budget_ratio: self.get("common.DiskIndex.SearchCacheBudgetGBRatio"),
        }
    }

    /// The value of a known key. Panics on an unknown key: that is a programming
    /// error, since every key the model reads must be listed in `KEYS`.
    pub fn get(&self, key: &str) -> f64 {
        *self.values.get(key).unwrap_or_else(|| {
            panic!("Milvus key {key:?} is read by the model but not listed in KEYS")
        })
    }

    /// Sets a key. Errors say why: the key is not modelled, or the value is out of
    /// the range simctl accepts for it.
    pub fn set(&mut self, key: &str, value: f64) -> Result<(), SetError> {
        let k = KEYS
            .iter()
            .find(|k| k.name == key)
            .ok_or(SetError::Unknown)?;
        if !(value >= k.min && value <= k.max) {
            return Err(SetError::OutOfRange {
                min: k.min,
                max: k.max,
                unit: k.unit,
            });
        }
        self.values.insert(k.name, value);
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.values.iter().map(|(k, v)| (*k, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diskann_search_cache_ratio_defaults_to_the_reference_and_can_be_turned_off() {
        let mut c = MilvusConfig::default();
        assert_eq!(c.disk_index().search_cache_budget_ratio, 0.1);
        c.set("common.DiskIndex.SearchCacheBudgetGBRatio", 0.0)
            .unwrap();
        assert_eq!(c.disk_index().search_cache_budget_ratio, 0.0);
        assert!(c
            .set("common.DiskIndex.SearchCacheBudgetGBRatio", 1.5)
            .is_err());
    }
}
