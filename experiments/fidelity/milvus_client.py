"""The pymilvus calls of the harness, split so each RPC is timed apart from the SDK's own work."""

import time

from server import LOOPBACK

FIELD_ID = "id"
FIELD_VECTOR = "vec"
INDEX_NAME = "vec_idx"
METRIC = "L2"
POLL_S = 0.05
WAIT_S_MAX = 3600


class Client:
    """The pymilvus calls, split so the RPC can be timed apart from the SDK's own work."""

    def __init__(self, port):
        from pymilvus import connections

        connections.connect(alias="default", host=LOOPBACK, port=port)
        self.handler = connections._fetch_handler("default")

    def close(self):
        from pymilvus import connections

        connections.disconnect("default")

    def server_version(self):
        return self.handler.get_server_version()

    def create_collection(self, name, dim):
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, utility

        if utility.has_collection(name):
            utility.drop_collection(name)
        schema = CollectionSchema([
            FieldSchema(FIELD_ID, DataType.INT64, is_primary=True, auto_id=False),
            FieldSchema(FIELD_VECTOR, DataType.FLOAT_VECTOR, dim=dim),
        ])
        Collection(name, schema, shards_num=1)
        # What Collection.insert hands to the handler: the schema and the server's field list.
        return schema, self.handler.describe_collection(name)["fields"]

    def insert(self, name, schema, ids, vectors):
        """(tolist_ns, convert_ns, rpc_ns): numpy to lists, pymilvus's request building, the RPC."""
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status
        from pymilvus.orm.prepare import Prepare as OrmPrepare

        t0 = time.perf_counter_ns()
        columns = [ids.tolist(), vectors.tolist()]
        t1 = time.perf_counter_ns()
        # The steps of Collection.insert for column data, up to the RPC.
        entities = OrmPrepare.prepare_insert_data(columns, schema[0])
        request = Prepare.batch_insert_param(name, entities, None, schema[1])
        t2 = time.perf_counter_ns()
        response = self.handler._stub.Insert(request)
        t3 = time.perf_counter_ns()
        check_status(response.status)
        return t1 - t0, t2 - t1, t3 - t2

    def flush(self, name):
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status

        t0 = time.monotonic()
        response = self.handler._stub.Flush(Prepare.flush_param([name]))
        rpc_s = time.monotonic() - t0
        check_status(response.status)
        segment_ids = list(response.coll_segIDs[name].data)
        flush_ts = response.coll_flush_ts[name]
        polls = wait_until(lambda: self.handler.get_flush_state(segment_ids, name, flush_ts))
        return {"flush_s": round(time.monotonic() - t0, 3), "rpc_s": round(rpc_s, 3),
                "segments_flushed": len(segment_ids), "polls": polls}

    def persistent_segments(self, name):
        infos = self.handler.get_persistent_segment_infos(name)
        return segment_summary(((i.num_rows, _enum_name(i.state), None) for i in infos), False)

    def query_segments(self, name):
        infos = self.handler.get_query_segment_info(name)
        return segment_summary(((i.num_rows, _enum_name(i.state), i.index_name or None) for i in infos), True)

    def build_index(self, name, index_type, build_params):
        from pymilvus.client.types import IndexState

        params = {"index_type": index_type, "metric_type": METRIC, "params": build_params}
        t0 = time.monotonic()
        self.handler.create_index(name, FIELD_VECTOR, params, index_name=INDEX_NAME, sync=False)

        def built():
            state, reason = self.handler.get_index_state(name, INDEX_NAME)
            if state == IndexState.Failed:
                raise RuntimeError(f"building {index_type} failed: {reason}")
            if state != IndexState.Finished:
                return False
            progress = self.handler.get_index_build_progress(name, INDEX_NAME)
            return progress["indexed_rows"] >= progress["total_rows"]

        wait_until(built)
        return round(time.monotonic() - t0, 3)

    def drop_index(self, name):
        self.handler.drop_index(name, FIELD_VECTOR, INDEX_NAME)

    def load(self, name):
        t0 = time.monotonic()
        self.handler.load_collection(name, replica_number=1, _async=True)
        wait_until(lambda: self.handler.get_loading_progress(name) >= 100)
        return round(time.monotonic() - t0, 3)

    def release(self, name):
        self.handler.release_collection(name)

    def drop(self, name):
        self.handler.drop_collection(name)

    def search_once(self, name, queries, search_params, topk, consistency, timeout=None):
        """(prepare_ns, rpc_ns, parse_ns) of one search, as Collection.search would do it; `timeout`
        (seconds) bounds the RPC."""
        from pymilvus.client.abstract import SearchResult
        from pymilvus.client.prepare import Prepare
        from pymilvus.client.utils import check_status

        t0 = time.perf_counter_ns()
        param = {"metric_type": METRIC, "params": search_params}
        request = Prepare.search_requests_with_expr(
            name, queries, FIELD_VECTOR, param, topk, consistency_level=consistency)
        t1 = time.perf_counter_ns()
        response = self.handler._stub.Search(request, timeout=timeout)
        t2 = time.perf_counter_ns()
        check_status(response.status)
        result = SearchResult(response.results)
        if len(result) != len(queries):
            raise RuntimeError(f"search returned {len(result)} result lists for nq={len(queries)}")
        t3 = time.perf_counter_ns()
        return t1 - t0, t2 - t1, t3 - t2

    def version_rpc_ns(self):
        """One round trip of the lightest RPC there is (GetVersion), in ns."""
        from pymilvus.grpc_gen import milvus_pb2

        t0 = time.perf_counter_ns()
        self.handler._stub.GetVersion(milvus_pb2.GetVersionRequest())
        return time.perf_counter_ns() - t0


def _enum_name(value):
    from pymilvus.grpc_gen import common_pb2

    try:
        return common_pb2.SegmentState.Name(value)
    except ValueError:
        return str(value)


def segment_summary(triples, with_index):
    rows = sorted(((r, s, i) for r, s, i in triples), reverse=True)
    return {
        "count": len(rows),
        "rows": [r for r, _, _ in rows],
        "states": sorted({s for _, s, _ in rows}),
    } | ({"indexed": sum(1 for _, _, i in rows if i)} if with_index else {})


def wait_until(predicate):
    """Polls every POLL_S (pymilvus itself polls every 0.5 s); returns the number of polls."""
    deadline = time.monotonic() + WAIT_S_MAX
    polls = 0
    while not predicate():
        polls += 1
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting after {WAIT_S_MAX} s")
        time.sleep(POLL_S)
    return polls
