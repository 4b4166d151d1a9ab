//! A calibration profile: what the kernels measured on one real machine, as written by
//! `simctl calibrate` and read back by the cost model (DESIGN.md "Hardware cost model").
//!
//! The shipped profile (`profiles/reference.toml`) is compiled into the binary, so tests
//! and shipped experiments give the same figures whatever machine runs them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hw::Isa;
use crate::kernels::distance::Metric;
use crate::scenario::load::{parse_toml, read_file};
use crate::scenario::{InputError, InputErrors};

/// The profile measured for this repository's reference machine (its `[machine]` table
/// says which), compiled in.
pub const REFERENCE_TOML: &str = include_str!("../../profiles/reference.toml");

/// The profile a run uses, and where it came from.
#[derive(Clone, Debug)]
pub struct ProfileChoice {
    pub profile: Arc<Profile>,
    /// The file and the SHA-256 of its bytes; `None` for the compiled-in reference.
    pub file: Option<(PathBuf, String)>,
}

impl ProfileChoice {
    /// The compiled-in reference profile, parsed once per process.
    pub fn reference() -> ProfileChoice {
        static REFERENCE: OnceLock<Arc<Profile>> = OnceLock::new();
        ProfileChoice {
            profile: REFERENCE
                .get_or_init(|| Arc::new(Profile::reference()))
                .clone(),
            file: None,
        }
    }

    /// A profile file, with located errors.
    pub fn load(path: &Path) -> Result<ProfileChoice, InputErrors> {
        let text = read_file(path, None)?;
        let profile = Profile::parse(path, &text)?;
        let sha256 = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(ProfileChoice {
            profile: Arc::new(profile),
            file: Some((path.to_path_buf(), sha256)),
        })
    }

    /// One line for people: which profile, measured on what.
    pub fn describe(&self) -> String {
        let m = &self.profile.machine;
        let source = match &self.file {
            Some((path, _)) => path.display().to_string(),
            None => "built-in reference profile".to_string(),
        };
        format!(
            "{source}: {} ({} cores, {} GHz, {}){}",
            m.cpu_model,
            m.cores,
            m.ghz,
            m.isa.name(),
            if m.quick {
                ", measured with --quick"
            } else {
                ""
            }
        )
    }
}

/// What a profile file holds. Every figure is a measurement of this repository's kernels
/// unless its doc says it is a fit of measurements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub machine: Machine,
    pub bandwidth: Bandwidth,
    pub topk: TopkCost,
    pub hnsw: HnswCost,
    pub ivf: IvfCost,
    /// f32 distances per (ISA, metric, dim): one row per measurement.
    pub distance: Vec<DistanceCost>,
    /// SQ8 code distances (squared L2) per (ISA, dim).
    pub sq8: Vec<Sq8Cost>,
    /// Flat top-k searches of many queries on the transposed kernels, per (metric, dim).
    /// Optional: a profile without these rows (older ones, or one measured on a CPU
    /// without AVX-512) prices every FLAT query at the pair kernel's `distance` rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiled: Vec<TiledCost>,
}

/// The machine the profile was measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// `model name` of /proc/cpuinfo, or "unknown".
    pub cpu_model: String,
    /// Cores the calibration could use.
    pub cores: u32,
    /// The SIMD-related CPU flags the kernels care about.
    pub isa_flags: Vec<String>,
    /// Best ISA the kernels ran: the one HNSW, k-means and top-k were measured on.
    pub isa: Isa,
    /// Clock estimated from a dependent chain of integer adds (one per cycle), GHz.
    pub ghz: f64,
    pub simctl_version: String,
    /// Measured with `--quick` (fewer repetitions, smaller data).
    pub quick: bool,
}

/// Sustained read bandwidth, all threads summing disjoint slices of one large array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bandwidth {
    /// Entry `i` is the machine-wide figure with `i + 1` threads, bytes/s.
    pub read_bytes_per_s: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricName {
    L2,
    Ip,
}

impl From<Metric> for MetricName {
    fn from(m: Metric) -> Self {
        match m {
            Metric::L2 => MetricName::L2,
            Metric::Ip => MetricName::Ip,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
}

/// One f32 distance, one query against a block of vectors (the batch kernel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistanceCost {
    pub isa: Isa,
    pub metric: MetricName,
    pub dtype: Dtype,
    pub dim: u32,
    /// Vectors in L1/L2 (a block of about 32 KiB scanned over and over), ns per distance.
    pub cache_ns: f64,
    /// Vectors streamed once from RAM by one thread, ns per distance.
    pub stream_ns: f64,
}

/// One SQ8 code distance (squared L2), codes in cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sq8Cost {
    pub isa: Isa,
    pub dim: u32,
    pub cache_ns: f64,
}

/// A flat top-`k` search of `queries` queries at once on the transposed kernels
/// (`kernels::topk::flat_search` from `TILED_MIN_QUERIES` queries on an AVX-512 CPU):
/// ns per (query, vector), each block's transposition and the top-k compares included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiledCost {
    pub isa: Isa,
    pub metric: MetricName,
    pub dtype: Dtype,
    pub dim: u32,
    pub queries: u32,
    pub k: u32,
    /// Vectors in L2 (a few hundred KiB searched over and over).
    pub cache_ns: f64,
    /// Vectors streamed once from RAM by one thread.
    pub stream_ns: f64,
}

/// Keeping the best `k` of a stream of candidates (a bounded heap).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopkCost {
    pub k: u32,
    pub ns_per_candidate: f64,
}

/// HNSW on low-rank "embedding-like" data (the anchors' data set) at `dim`.
///
/// Fitted laws (least squares on the logarithms of the samples):
/// * layer-0 nodes a search visits: `visited = visited_a * ef^visited_ef_exp *
///   M^visited_m_exp * (ln N)^visited_ln_n_exp`;
/// * distance evaluations per insert, averaged over a build of N rows:
///   `build_a * efConstruction^build_ef_exp * M^build_m_exp * (ln N)^build_ln_n_exp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswCost {
    pub dim: u32,
    pub visited_a: f64,
    pub visited_ef_exp: f64,
    pub visited_m_exp: f64,
    pub visited_ln_n_exp: f64,
    pub build_a: f64,
    pub build_ef_exp: f64,
    pub build_m_exp: f64,
    pub build_ln_n_exp: f64,
    /// The searches the visited law was fitted to.
    pub search: Vec<HnswSearchSample>,
    /// The builds the build law was fitted to.
    pub build: Vec<HnswBuildSample>,
    /// Searches of one graph of the same data at a wider dim (`wide_dim`), for the time a
    /// search spends fetching each visited node's wider vector (`hnsw_fetch_ns_per_byte`
    /// in `src/hw/cost.rs`). Absent in profiles from before it was measured:
    /// the cost model then adds no fetch time for dims above `dim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wide_dim: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wide_search: Vec<HnswSearchSample>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswSearchSample {
    pub rows: u64,
    pub m: u32,
    pub ef: u32,
    pub visited: f64,
    pub ns_per_query: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HnswBuildSample {
    pub rows: u64,
    pub m: u32,
    pub ef_construction: u32,
    pub evals_per_insert: f64,
    pub ns_per_insert: f64,
}

impl HnswCost {
    /// Search time per visited node at each graph size measured, smallest first: on the
    /// smallest graph vectors and links sit in cache, on larger ones misses add latency.
    pub fn ns_per_visited_by_rows(&self) -> Vec<(u64, f64)> {
        by_rows(
            self.search
                .iter()
                .map(|s| (s.rows, s.ns_per_query, s.visited)),
        )
    }

    /// The same for the searches at `wide_dim`.
    pub fn wide_ns_per_visited_by_rows(&self) -> Vec<(u64, f64)> {
        by_rows(
            self.wide_search
                .iter()
                .map(|s| (s.rows, s.ns_per_query, s.visited)),
        )
    }

    /// Build time per distance evaluation at each graph size measured, smallest first.
    pub fn build_ns_per_eval_by_rows(&self) -> Vec<(u64, f64)> {
        by_rows(
            self.build
                .iter()
                .map(|b| (b.rows, b.ns_per_insert, b.evals_per_insert)),
        )
    }
}

/// Per distinct `rows`, the sum of times over the sum of counts, by rows.
fn by_rows(samples: impl Iterator<Item = (u64, f64, f64)>) -> Vec<(u64, f64)> {
    let mut sums: std::collections::BTreeMap<u64, (f64, f64)> = Default::default();
    for (rows, ns, count) in samples {
        let e = sums.entry(rows).or_default();
        e.0 += ns;
        e.1 += count;
    }
    sums.into_iter().map(|(r, (ns, n))| (r, ns / n)).collect()
}

/// IVF work other than f32 distances (which the `distance` rows give).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvfCost {
    pub dim: u32,
    /// k-means training (assignment plus update), per row-centroid distance evaluation.
    pub kmeans_ns_per_eval: f64,
    /// PQ asymmetric distance, per sub-quantiser of a code, codes in cache.
    pub pq_ns_per_lookup: f64,
    /// Sub-quantisers of the PQ measurement.
    pub pq_m: u32,
}

impl Profile {
    /// The compiled-in reference profile.
    pub fn reference() -> Profile {
        Profile::parse(Path::new("profiles/reference.toml"), REFERENCE_TOML)
            .expect("the compiled-in reference profile parses (a unit test checks it)")
    }

    /// Parses profile text; `path` only labels errors.
    pub fn parse(path: &Path, text: &str) -> Result<Profile, InputError> {
        let p: Profile = parse_toml(path, text, "calibration profile")?;
        p.check().map_err(|m| {
            InputError::at(path, text, None, m)
                .with_hint("measure it again with `simctl calibrate`")
        })?;
        Ok(p)
    }

    /// The profile as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a profile serialises")
    }

    /// Rounds every measured figure to four significant digits: timings on a shared
    /// machine hold to a few per cent, and shorter numbers keep the file readable.
    pub fn round_figures(&mut self) {
        let r = |x: &mut f64| *x = round4(*x);
        r(&mut self.machine.ghz);
        self.bandwidth.read_bytes_per_s.iter_mut().for_each(r);
        r(&mut self.topk.ns_per_candidate);
        let h = &mut self.hnsw;
        for x in [
            &mut h.visited_a,
            &mut h.visited_ef_exp,
            &mut h.visited_m_exp,
            &mut h.visited_ln_n_exp,
            &mut h.build_a,
            &mut h.build_ef_exp,
            &mut h.build_m_exp,
            &mut h.build_ln_n_exp,
        ] {
            r(x);
        }
        for s in h.search.iter_mut().chain(&mut h.wide_search) {
            r(&mut s.visited);
            r(&mut s.ns_per_query);
        }
        for b in &mut h.build {
            r(&mut b.evals_per_insert);
            r(&mut b.ns_per_insert);
        }
        r(&mut self.ivf.kmeans_ns_per_eval);
        r(&mut self.ivf.pq_ns_per_lookup);
        for d in &mut self.distance {
            r(&mut d.cache_ns);
            r(&mut d.stream_ns);
        }
        for s in &mut self.sq8 {
            r(&mut s.cache_ns);
        }
        for t in &mut self.tiled {
            r(&mut t.cache_ns);
            r(&mut t.stream_ns);
        }
    }

    /// Checks what the cost model relies on.
    fn check(&self) -> Result<(), String> {
        if self.hnsw.search.is_empty() || self.hnsw.build.is_empty() {
            return Err("[hnsw] has no search or no build samples".into());
        }
        match self.hnsw.wide_dim {
            Some(w) if w <= self.hnsw.dim => {
                return Err(format!(
                    "[hnsw] wide_dim = {w} is not above dim = {}",
                    self.hnsw.dim
                ));
            }
            Some(_) if self.hnsw.wide_search.is_empty() => {
                return Err("[hnsw] has wide_dim but no [[hnsw.wide_search]] samples".into());
            }
            None if !self.hnsw.wide_search.is_empty() => {
                return Err("[[hnsw.wide_search]] samples need [hnsw] wide_dim".into());
            }
            _ => {}
        }
        if self.bandwidth.read_bytes_per_s.is_empty() {
            return Err("[bandwidth] read_bytes_per_s is empty".into());
        }
        if self.machine.ghz.is_nan() || self.machine.ghz <= 0.0 {
            return Err(format!(
                "[machine] ghz = {} is not positive",
                self.machine.ghz
            ));
        }
        for metric in [MetricName::L2, MetricName::Ip] {
            if self.distances(self.machine.isa, metric).len() < 2 {
                return Err(format!(
                    "fewer than two [[distance]] rows for the calibration ISA {} and metric {metric:?}",
                    self.machine.isa.name()
                ));
            }
        }
        for t in &self.tiled {
            for metric in [MetricName::L2, MetricName::Ip] {
                let rows = self.tiled_rows(t.isa, metric).len();
                if rows < 2 {
                    return Err(format!(
                        "[[tiled]] has {rows} row(s) for ISA {} and metric {metric:?}; the cost model interpolates between two or more (or leave [[tiled]] out)",
                        t.isa.name()
                    ));
                }
            }
        }
        let positive = self.bandwidth.read_bytes_per_s.iter().all(|&b| b > 0.0)
            && self
                .distance
                .iter()
                .all(|d| d.cache_ns > 0.0 && d.stream_ns > 0.0)
            && self.sq8.iter().all(|d| d.cache_ns > 0.0)
            && self
                .tiled
                .iter()
                .all(|t| t.cache_ns > 0.0 && t.stream_ns > 0.0)
            && self.topk.ns_per_candidate > 0.0
            && self
                .hnsw
                .search
                .iter()
                .chain(&self.hnsw.wide_search)
                .all(|s| s.ns_per_query > 0.0 && s.visited > 0.0)
            && self
                .hnsw
                .build
                .iter()
                .all(|b| b.ns_per_insert > 0.0 && b.evals_per_insert > 0.0)
            && self.hnsw.visited_a > 0.0
            && self.hnsw.build_a > 0.0
            && self.ivf.kmeans_ns_per_eval > 0.0
            && self.ivf.pq_ns_per_lookup > 0.0;
        if !positive {
            return Err("a measured time or bandwidth is zero or negative".into());
        }
        Ok(())
    }

    /// The `(dim, row)` distance measurements of one ISA and metric, by dim.
    pub fn distances(&self, isa: Isa, metric: MetricName) -> Vec<&DistanceCost> {
        let mut rows: Vec<&DistanceCost> = self
            .distance
            .iter()
            .filter(|d| d.isa == isa && d.metric == metric && d.dtype == Dtype::F32)
            .collect();
        rows.sort_by_key(|d| d.dim);
        rows
    }

    /// Whether the profile measured `isa`.
    pub fn has_isa(&self, isa: Isa) -> bool {
        self.distance.iter().any(|d| d.isa == isa)
    }

    /// In-cache ns per f32 distance on `isa` at `dim`, linear between measured dims.
    pub fn cache_ns(&self, isa: Isa, metric: MetricName, dim: u32) -> f64 {
        let rows = self.distances(isa, metric);
        interpolate(rows.iter().map(|d| (d.dim as f64, d.cache_ns)), dim as f64)
    }

    /// Streaming ns per f32 distance on `isa` at `dim`, linear between measured dims.
    pub fn stream_ns(&self, isa: Isa, metric: MetricName, dim: u32) -> f64 {
        let rows = self.distances(isa, metric);
        interpolate(rows.iter().map(|d| (d.dim as f64, d.stream_ns)), dim as f64)
    }

    /// The transposed-kernel rows of one ISA and metric, by dim.
    fn tiled_rows(&self, isa: Isa, metric: MetricName) -> Vec<&TiledCost> {
        let mut rows: Vec<&TiledCost> = self
            .tiled
            .iter()
            .filter(|t| t.isa == isa && t.metric == metric && t.dtype == Dtype::F32)
            .collect();
        rows.sort_by_key(|t| t.dim);
        rows
    }

    /// In-cache ns per (query, vector) of a many-query flat search on the transposed
    /// kernels of `isa` at `dim`, linear between measured dims; `None` if the profile has
    /// no `[[tiled]]` rows for `isa` (then FLAT is priced at the pair kernel, `hw::cost`).
    pub fn tiled_cache_ns(&self, isa: Isa, metric: MetricName, dim: u32) -> Option<f64> {
        let rows = self.tiled_rows(isa, metric);
        (rows.len() >= 2)
            .then(|| interpolate(rows.iter().map(|t| (t.dim as f64, t.cache_ns)), dim as f64))
    }

    /// The streamed figure of the same, as [`Profile::tiled_cache_ns`].
    pub fn tiled_stream_ns(&self, isa: Isa, metric: MetricName, dim: u32) -> Option<f64> {
        let rows = self.tiled_rows(isa, metric);
        (rows.len() >= 2)
            .then(|| interpolate(rows.iter().map(|t| (t.dim as f64, t.stream_ns)), dim as f64))
    }

    /// In-cache ns per SQ8 code on `isa` at `dim`; `None` if the profile did not measure
    /// SQ8 on `isa`.
    pub fn sq8_ns(&self, isa: Isa, dim: u32) -> Option<f64> {
        let mut rows: Vec<&Sq8Cost> = self.sq8.iter().filter(|s| s.isa == isa).collect();
        if rows.len() < 2 {
            return None;
        }
        rows.sort_by_key(|s| s.dim);
        Some(interpolate(
            rows.iter().map(|s| (s.dim as f64, s.cache_ns)),
            dim as f64,
        ))
    }

    /// Single-thread read bandwidth, bytes/s.
    pub fn single_thread_bytes_per_s(&self) -> f64 {
        self.bandwidth.read_bytes_per_s[0]
    }
}

/// `x` to four significant digits.
fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Piecewise-linear interpolation through `points` (sorted by x, at least two), extended
/// past the ends along the first and last segments and kept positive: distance time is
/// close to linear in the dimension once call overhead is paid.
fn interpolate(points: impl Iterator<Item = (f64, f64)>, x: f64) -> f64 {
    let p: Vec<(f64, f64)> = points.collect();
    assert!(
        p.len() >= 2,
        "interpolation needs two points (Profile::check)"
    );
    let i = p
        .windows(2)
        .position(|w| x <= w[1].0)
        .unwrap_or(p.len() - 2);
    let ((x0, y0), (x1, y1)) = (p[i], p[i + 1]);
    let y = y0 + (y1 - y0) * (x - x0) / (x1 - x0);
    // Below the smallest dim, never less than a proportional share of its time.
    y.max(p[0].1 * (x / p[0].0).min(1.0)).max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_profile_parses_and_measured_the_calibration_isa() {
        let p = Profile::reference();
        assert!(p.has_isa(p.machine.isa));
        assert!(p.has_isa(Isa::Scalar));
        assert_eq!(Profile::parse(Path::new("x.toml"), &p.to_toml()), Ok(p));
    }

    #[test]
    fn interpolation_is_exact_at_points_and_linear_between() {
        let pts = [(128.0, 4.0), (256.0, 8.0), (512.0, 20.0)];
        assert_eq!(interpolate(pts.into_iter(), 256.0), 8.0);
        assert_eq!(interpolate(pts.into_iter(), 384.0), 14.0);
        assert_eq!(interpolate(pts.into_iter(), 1024.0), 44.0);
        assert_eq!(interpolate(pts.into_iter(), 64.0), 2.0);
    }

    #[test]
    fn unknown_keys_are_located_errors() {
        let text =
            Profile::reference()
                .to_toml()
                .replacen("[machine]\n", "[machine]\nbogus = 1\n", 1);
        let e = Profile::parse(Path::new("p.toml"), &text).unwrap_err();
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert!(
            e.line > 1,
            "the error points at the key, not the file start"
        );
        assert!(e.hint.is_some());
    }

    #[test]
    fn tiled_rows_are_optional_but_never_a_lone_row() {
        let mut p = Profile::reference();
        assert!(p
            .tiled_cache_ns(Isa::Avx512, MetricName::Ip, 1024)
            .is_some());
        p.tiled.clear();
        let old = Profile::parse(Path::new("p.toml"), &p.to_toml()).unwrap();
        assert_eq!(old.tiled_cache_ns(Isa::Avx512, MetricName::L2, 1024), None);
        let mut p = Profile::reference();
        p.tiled
            .retain(|t| t.metric == MetricName::Ip || t.dim == 128);
        let e = Profile::parse(Path::new("p.toml"), &p.to_toml()).unwrap_err();
        assert!(
            e.message.contains("[[tiled]] has 1 row(s)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn wide_hnsw_searches_are_optional_but_come_with_their_dim() {
        let mut p = Profile::reference();
        assert_eq!(p.hnsw.wide_dim, Some(768));
        p.hnsw.wide_dim = None;
        p.hnsw.wide_search.clear();
        assert!(Profile::parse(Path::new("p.toml"), &p.to_toml()).is_ok());
        let mut p = Profile::reference();
        p.hnsw.wide_search.clear();
        let e = Profile::parse(Path::new("p.toml"), &p.to_toml()).unwrap_err();
        assert!(e.message.contains("wide_search"), "{}", e.message);
        let mut p = Profile::reference();
        p.hnsw.wide_dim = Some(64);
        let e = Profile::parse(Path::new("p.toml"), &p.to_toml()).unwrap_err();
        assert!(e.message.contains("wide_dim = 64"), "{}", e.message);
    }

    #[test]
    fn a_profile_without_bandwidth_figures_is_refused() {
        let mut p = Profile::reference();
        p.bandwidth.read_bytes_per_s.clear();
        let e = Profile::parse(Path::new("p.toml"), &p.to_toml()).unwrap_err();
        assert!(e.message.contains("bandwidth"), "{}", e.message);
    }
}
