//! `simctl import-stack` reading the configuration files a stack mounts: an
//! nginx.conf into `[nginx]`, a milvus.yaml into `[milvus]`, written as an experiment
//! fragment that loads.

use std::path::{Path, PathBuf};

use crate::common::{repo, simctl, temp_dir};
use simctl::engine::SimDuration;
use simctl::scenario::nginx::{Balance, Nginx};

const FIXTURES: &str = "tests/fixtures/stack-configs";
const SMALL_HOSTS: &str = "tests/fixtures/stacks/small-hosts.toml";

/// Imports `stacks` with `extra` arguments into `dir`; returns the exit code, stdout,
/// stderr and the paths of the topology and the fragment.
fn import(
    dir: &Path,
    stacks: &[PathBuf],
    hosts: &str,
    extra: &[String],
) -> (i32, String, String, PathBuf, PathBuf) {
    let out = dir.join("topology.toml");
    let fragment = dir.join("settings.toml");
    let mut args: Vec<String> = vec!["import-stack".into()];
    args.extend(stacks.iter().map(|p| p.display().to_string()));
    args.extend(
        [
            "--hosts",
            hosts,
            "--out",
            out.to_str().unwrap(),
            "--experiment-out",
            fragment.to_str().unwrap(),
        ]
        .map(String::from),
    );
    args.extend(extra.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = simctl(&args);
    (code, stdout, stderr, out, fragment)
}

/// An experiment on `topology` with the fragment appended, loaded as `simctl run`
/// would load it.
fn experiment_with_fragment(
    dir: &Path,
    topology: &Path,
    fragment: &Path,
) -> simctl::scenario::Experiment {
    let base = std::fs::read_to_string(repo("experiments/minio-node-failure.toml")).unwrap();
    assert!(!base.contains("[nginx]") && !base.contains("[milvus]"));
    let base = base.replace(
        "topology = \"../topologies/seed-26-hosts.toml\"",
        &format!("topology = {:?}", topology.display().to_string()),
    );
    let path = dir.join("exp.toml");
    let fragment = std::fs::read_to_string(fragment).unwrap();
    std::fs::write(&path, format!("{base}\n{fragment}")).unwrap();
    simctl::scenario::load_experiment(&path, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// The users' stack files and configs, where this checkout has them beside it (they
/// are not part of the repository): the imported settings are those the users run.
#[test]
fn users_nginx_conf_and_milvus_yaml_reach_the_experiment() {
    let dir = repo("../shared/fixtures/seed-swarm");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let stacks: Vec<PathBuf> = [
        "etcd-minio",
        "pulsar-zookeeper",
        "pulsar-bookie",
        "pulsar-broker",
        "milvus-coord",
        "milvus-worker",
        "milvus-proxy",
    ]
    .iter()
    .map(|s| dir.join(format!("yaml/{s}.yaml")))
    .collect();
    let tmp = temp_dir("configs-users");
    // The stacks mount ./nginx.conf and ./milvus.yaml beside them; the repository keeps
    // them under conf/, so they are given explicitly.
    let extra: Vec<String> = [
        "--config",
        dir.join("conf/nginx/nginx.conf").to_str().unwrap(),
        "--config",
        dir.join("conf/milvus/milvus.yaml").to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let (code, stdout, stderr, topology, fragment) = import(
        &tmp,
        &stacks,
        "tests/fixtures/stacks/seed-hosts.toml",
        &extra,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("the settings of the mounted configuration files"));
    let text = std::fs::read_to_string(&fragment).unwrap();
    assert!(
        text.contains("upstream minio over minio1, minio2, minio3, minio4"),
        "{text}"
    );
    assert!(text.contains("proxy_connect_timeout = \"300s\""), "{text}");
    for line in [
        "nginx.conf:8: worker_connections: not modelled",
        "nginx.conf:12: include /etc/nginx/mime.types: not followed",
        "nginx.conf:29: upstream minio_console: not modelled",
        "milvus.yaml:106: mq.type: pulsar: not modelled",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
        assert!(stderr.contains(line), "{line} missing from:\n{stderr}");
    }
    // The volumes holding only a config file are read, not reported.
    assert!(!stderr.contains("volumes (minio-proxy)"), "{stderr}");

    let exp = experiment_with_fragment(&tmp, &topology, &fragment);
    assert_eq!(
        exp.nginx,
        Nginx {
            balance: Balance::LeastConn,
            max_fails: 1,
            fail_timeout: SimDuration::from_secs(10),
            proxy_connect_timeout: SimDuration::from_secs(300),
            worker_processes: None,
            ..Nginx::default()
        }
    );
    // reference §0: the users' only departure from the 2.3 defaults simctl models.
    let changed: Vec<(&str, f64)> = exp
        .milvus
        .iter()
        .filter(|(k, v)| {
            simctl::scenario::milvus_config::KEYS
                .iter()
                .any(|d| d.name == *k && d.default != *v)
        })
        .collect();
    assert_eq!(changed, [("queryNode.enableDisk", 1.0)]);
}

fn small_stack(tmp: &Path) -> PathBuf {
    for f in ["stack.yaml", "nginx.conf", "milvus.yaml"] {
        std::fs::copy(repo(&format!("{FIXTURES}/{f}")), tmp.join(f)).unwrap();
    }
    tmp.join("stack.yaml")
}

#[test]
fn mounted_files_beside_the_stack_are_read() {
    let tmp = temp_dir("configs-small");
    let stack = small_stack(&tmp);
    let (code, stdout, stderr, topology, fragment) = import(&tmp, &[stack], SMALL_HOSTS, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&fragment).unwrap();
    // Values are commented with their file and line (spaces squeezed: columns align).
    let squeezed = text
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    for line in [
        "balance = \"round_robin\" # nginx's default; the upstream at nginx.conf names no method",
        "max_fails = 3 # nginx.conf:14",
        "fail_timeout = \"30s\" # nginx.conf:14",
        "proxy_connect_timeout = \"5s\" # nginx.conf:10",
        "worker_processes = 2 # nginx.conf:2",
        "\"proxy.timeTickInterval\" = 100 # milvus.yaml:12; 2.3 default 200",
        "\"queryNode.enableDisk\" = true # milvus.yaml:14; 2.3 default false",
        "\"queryNode.segcore.cgoPoolSizeRatio\" = 2.5 # milvus.yaml:16; 2.3 default 2",
        "nginx.conf:5: worker_connections: not modelled",
        "nginx.conf:13: upstream s3: zone s3 64k: not modelled",
        "nginx.conf:15: upstream s3: server minio2:9000 weight=2: not modelled",
        "nginx.conf:16: upstream s3: keepalive 32: not modelled",
        "nginx.conf:22: proxy_next_upstream: not modelled",
        "milvus.yaml:4: etcd.endpoints: etcd-proxy:23790: names no service of the stack files",
        "mq.type: pulsar: not modelled (2.3 default \"default\";",
        "note: services without a milvus.yaml mount (rootcoord)",
    ] {
        assert!(squeezed.contains(line), "{line} missing from:\n{text}");
    }
    // query1's data directory is still reported; its milvus.yaml is read.
    assert!(
        stderr.contains("stack.yaml:10: volumes (minio1, query1): not modelled"),
        "{stderr}"
    );

    // The fragment is valid experiment input (on a topology with nginx).
    let seed = repo("topologies/seed-26-hosts.toml");
    let exp = experiment_with_fragment(&tmp, &seed, &fragment);
    assert_eq!(exp.nginx.balance, Balance::RoundRobin);
    assert_eq!(exp.nginx.max_fails, 3);
    assert_eq!(exp.nginx.fail_timeout, SimDuration::from_secs(30));
    assert_eq!(exp.nginx.proxy_connect_timeout, SimDuration::from_secs(5));
    assert_eq!(exp.nginx.worker_processes, Some(2));
    assert_eq!(exp.milvus.get("proxy.timeTickInterval"), 100.0);
    assert_eq!(exp.milvus.get("queryNode.segcore.cgoPoolSizeRatio"), 2.5);
    assert!(topology.exists());

    // Without the files beside the stack, the mounts are reported as not read.
    let bare = temp_dir("configs-bare");
    std::fs::copy(tmp.join("stack.yaml"), bare.join("stack.yaml")).unwrap();
    let (code, _, stderr, _, fragment) =
        import(&bare, &[bare.join("stack.yaml")], SMALL_HOSTS, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("stack.yaml:28: ./nginx.conf, mounted by minio-proxy, is not at"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pass the file with --config FILE"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&fragment).unwrap();
    assert!(text.contains("No configuration file was read"), "{text}");
    // ... and --config stands in for them.
    let extra = [
        "--config".to_string(),
        repo(&format!("{FIXTURES}/nginx.conf"))
            .display()
            .to_string(),
    ];
    let (code, _, stderr, _, fragment) =
        import(&bare, &[bare.join("stack.yaml")], SMALL_HOSTS, &extra);
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::read_to_string(&fragment)
        .unwrap()
        .contains("worker_processes = 2"));
}

/// Each defect of a configuration file: its file, line, message and hint, exit 2 and
/// nothing written.
#[test]
fn bad_configuration_files_are_located_and_nothing_is_written() {
    let cases: &[(&str, &str, &str, usize, &str, &str)] = &[
        (
            "nginx.conf",
            "    upstream s3 {",
            "    upstream s3 {{",
            12,
            "not valid: unexpected \"{\"",
            "nginx -t",
        ),
        (
            "nginx.conf",
            "keepalive 32;",
            "keepalive 32",
            16,
            "directive \"keepalive\" has no \";\"",
            "",
        ),
        (
            "nginx.conf",
            "server minio2:9000",
            "server minio3:9000",
            15,
            "server minio3:9000 names no service of the stack files",
            "does not resolve",
        ),
        (
            "nginx.conf",
            "proxy_connect_timeout 5s;",
            "proxy_connect_timeout soon;",
            10,
            "proxy_connect_timeout soon is not a time",
            "300s",
        ),
        (
            "milvus.yaml",
            "  timeTickInterval: 100",
            "  timeTickInterval: [100",
            // The parser finds the unclosed list on the next line.
            13,
            "not valid YAML",
            "indentation",
        ),
        (
            "milvus.yaml",
            "  timeTickInterval: 100",
            "  timeTickInterval: fast",
            12,
            "proxy.timeTickInterval is \"fast\", not a number",
            "ms",
        ),
        (
            "milvus.yaml",
            "    cgoPoolSizeRatio: 2.5",
            "    cgoPoolSizeRatio: 1000",
            16,
            "out of the range",
            "0.01 to 100",
        ),
    ];
    for (i, (file, from, to, line, message, hint)) in cases.iter().enumerate() {
        let tmp = temp_dir(&format!("configs-bad-{i}"));
        let stack = small_stack(&tmp);
        let text = std::fs::read_to_string(tmp.join(file)).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(tmp.join(file), text.replacen(from, to, 1)).unwrap();
        let (code, _, stderr, topology, fragment) = import(&tmp, &[stack], SMALL_HOSTS, &[]);
        assert_eq!(code, 2, "{to}: {stderr}");
        let at = format!("{}:{line}:", tmp.join(file).display());
        assert!(stderr.starts_with(&at), "{to}: expected {at}\n{stderr}");
        assert!(stderr.contains(message), "{to}: {stderr}");
        assert!(
            stderr.contains("hint: ") && stderr.contains(hint),
            "{to}: {stderr}"
        );
        assert!(
            !topology.exists() && !fragment.exists(),
            "{to}: partial output"
        );
    }

    // A --config that stands in for no mount.
    let tmp = temp_dir("configs-bad-name");
    let stack = small_stack(&tmp);
    let other = tmp.join("default.conf");
    std::fs::write(&other, "http {}\n").unwrap();
    let extra = ["--config".to_string(), other.display().to_string()];
    let (code, _, stderr, topology, _) = import(&tmp, &[stack], SMALL_HOSTS, &extra);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no service of the stack files mounts a file named default.conf"),
        "{stderr}"
    );
    assert!(stderr.contains("./nginx.conf, ./milvus.yaml"), "{stderr}");
    assert!(!topology.exists());
}
