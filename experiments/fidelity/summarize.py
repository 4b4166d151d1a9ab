"""Print a results file of harness.py as tables for people (Markdown).

    python summarize.py results.json [--uncontended]
"""

import argparse
import json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--uncontended", action="store_true", help="leave out contended search cases")
    args = p.parse_args()
    with open(args.results) as f:
        doc = json.load(f)
    m, v = doc["machine"], doc["versions"]
    print(f"{doc['mode']} run, {'complete' if doc['complete'] else 'INCOMPLETE'}, {doc.get('wall_s')} s; "
          f"{m['cpu_model']}, {m['cores_usable']} cores; Milvus {v.get('milvus_server')}, pymilvus {v['pymilvus']}; "
          f"{doc['network']['isolation']}; {doc.get('contended_cases')} of {len(doc['cases'])} cases contended\n")

    print("| client overhead | dim | nq | p50 ms | p99 ms | rpc p50 ms | prepare p50 ms | parse p50 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for o in doc["client_overhead"]:
        f = o.get("figures", o)
        print(f"| {o['kind']} | {o.get('dim', '')} | {o.get('nq', '')} | {f['latency_ms_p50']} | {f['latency_ms_p99']} "
              f"| {f.get('rpc_ms_p50', '')} | {f.get('client_prepare_ms_p50', '')} | {f.get('client_parse_ms_p50', '')} |")

    print("\n| dataset | rows/s | rows/s RPC only | tolist / convert / rpc s | flush s | segments |")
    print("| --- | --- | --- | --- | --- | --- |")
    for d in doc["datasets"]:
        i, fl = d["insert"], d["flush"]
        print(f"| {d['name']} | {i['rows_per_s']:.0f} | {i['rows_per_s_rpc']:.0f} "
              f"| {i['tolist_s']} / {i['convert_s']} / {i['rpc_s']} | {fl['flush_s']} "
              f"| {fl['segments_after']['count']} ({fl['segments_after']['rows']}) |")

    print("\n| dataset | index | build s | load s | segments loaded (indexed) | contended build/load |")
    print("| --- | --- | --- | --- | --- | --- |")
    for d in doc["datasets"]:
        for x in d["indexes"]:
            s = x["segments_loaded"]
            print(f"| {d['name']} | {x['index_type']} | {x['build_s']} | {x['load_s']} | {s['count']} ({s['indexed']}) "
                  f"| {x['build_contention']['contended']}/{x['load_contention']['contended']} |")

    print("\n| case | p50 ms | p95 ms | p99 ms | qps | server CPU ms/req | others cores |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in doc["cases"]:
        if args.uncontended and c["contention"]["contended"]:
            continue
        f, k = c["figures"], c["contention"]
        print(f"| {c['id']} | {f['latency_ms_p50']} | {f['latency_ms_p95']} | {f['latency_ms_p99']} | {f['qps']} "
              f"| {f['server_cpu_ms_per_request']} | {k['others_cores_mean']}{' (contended)' if k['contended'] else ''} |")


if __name__ == "__main__":
    main()
