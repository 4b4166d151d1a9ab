//! Offered load past the query nodes' capacity: latency explodes and the summary says
//! the cluster is saturated.

use crate::common::{run_to, temp_dir};

#[test]
fn latency_has_a_knee_at_capacity() {
    let tmp = temp_dir("knee");
    let mut points = Vec::new();
    for qps in [250, 500, 1000, 1500, 2500] {
        let s = run_to(
            "experiments/quickstart.toml",
            &[
                "duration=30s",
                "warmup=10s",
                &format!("workload.search_qps={qps}"),
            ],
            &tmp.join(format!("q{qps}")),
        );
        let search = &s["requests"]["search"];
        points.push((
            qps as f64,
            search["qps"].as_f64().unwrap(),
            search["p99_ms"].as_f64().unwrap(),
            s["saturated"].as_bool().unwrap(),
        ));
    }
    let (_, _, p99_light, _) = points[0];
    for &(offered, achieved, p99, saturated) in &points[..3] {
        assert!(
            !saturated,
            "{offered} QPS should be within capacity: {points:?}"
        );
        assert!((achieved - offered).abs() < 0.05 * offered, "{points:?}");
        assert!(p99 < 5.0 * p99_light.max(1.0), "{points:?}");
    }
    for w in points.windows(2) {
        assert!(w[1].2 >= w[0].2 * 0.95, "p99 fell as load rose: {points:?}");
    }
    let (offered, achieved, p99, saturated) = points[4];
    assert!(
        saturated,
        "{offered} QPS should saturate the query nodes: {points:?}"
    );
    assert!(achieved < 0.9 * offered, "{points:?}");
    assert!(p99 > 20.0 * p99_light, "no knee in p99: {points:?}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
