#!/usr/bin/env python3
"""Drives the unchanged Python SDK (PyPI amplitude-analytics) against a server, from a scenario file.

Usage: python_client.py SERVER_URL API_KEY SCENARIO.json [--timeout-ms N] [--id-suffix S] [--verbose]
  --id-suffix S: append S to every user_id, device_id, insert_id and group value of the scenario.

Prints one JSON line on stdout: {"sdk":"python","library":...,"results":[{action,code,message,...}]}
and exits 0 once every call's callback has fired (whatever its code); exits non-zero with a message
on stderr on bad usage, a bad scenario, an exception, or the timeout (default 60 s).

The SDK calls no callback for a call it refuses before queueing (an Identify with no operation, a
Revenue whose price is not a float or quantity not a positive int, an event with neither user_id
nor device_id). Those are detected with the SDK's own checks and reported as code 0 with a message
starting "not sent:", as the TypeScript SDKs do for events they drop.
"""
import argparse
import json
import logging
import sys
import threading
import time

from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify, Revenue
from amplitude import constants

OPTION_KEYS = [
    "user_id", "device_id", "time", "insert_id", "session_id", "event_id",
    "app_version", "version_name", "platform", "os_name", "os_version",
    "device_brand", "device_manufacturer", "device_model", "carrier",
    "country", "region", "city", "dma", "language", "ip", "location_lat", "location_lng",
]
FLOAT_OPTIONS = {"location_lat", "location_lng"}
INT_OPTIONS = {"time", "session_id", "event_id"}

IDENTIFY_METHODS = {
    "set": "set", "set_once": "set_once", "add": "add", "append": "append", "prepend": "prepend",
    "pre_insert": "pre_insert", "post_insert": "post_insert", "remove": "remove", "unset": "unset",
    "clear_all": "clear_all",
}
ACTION_KINDS = ["track", "identify", "group_identify", "set_group", "revenue", "flush"]
REQUIRED = {
    "track": ["event_type"], "identify": ["operations"],
    "group_identify": ["group_type", "group_value", "operations"],
    "set_group": ["group_type", "group_value"], "revenue": ["price"], "flush": [],
}


def die(message, code=1):
    sys.stderr.write(f"python_client: ERROR: {message}\n")
    sys.stderr.flush()
    # os._exit: the SDK's worker threads and exit hooks must not keep a failed run alive.
    import os
    os._exit(code)


def warn(message):
    sys.stderr.write(f"python_client: warning: {message}\n")


def validate_scenario(scenario):
    if not isinstance(scenario, dict):
        raise ValueError("scenario: not a JSON object")
    if scenario.get("config") is not None and not isinstance(scenario["config"], dict):
        raise ValueError("scenario.config: not an object")
    if not isinstance(scenario.get("actions"), list):
        raise ValueError("scenario.actions: missing or not an array")
    for i, action in enumerate(scenario["actions"]):
        if not isinstance(action, dict) or len(action) != 1 or next(iter(action)) not in ACTION_KINDS:
            raise ValueError(f"actions[{i}]: must be an object with exactly one of {', '.join(ACTION_KINDS)}")
        kind = next(iter(action))
        body = action[kind] or {}
        for key in REQUIRED[kind]:
            if body.get(key) is None:
                raise ValueError(f'actions[{i}].{kind}: missing "{key}"')
        for op in body.get("operations") or []:
            if not isinstance(op, list) or not op or op[0] not in IDENTIFY_METHODS:
                raise ValueError(f"actions[{i}].{kind}.operations: bad operation {json.dumps(op)}")


def with_id_suffix(scenario, suffix):
    """A copy of the scenario with `suffix` appended to every user_id, device_id, insert_id and
    group value (`group_value`, the values of a track's `groups`); same rule as withIdSuffix in
    scenario.mjs."""
    if not suffix:
        return scenario

    def add(v):
        if isinstance(v, str):
            return v + suffix
        if isinstance(v, list):
            return [add(x) for x in v]
        return v

    scenario = json.loads(json.dumps(scenario))
    for action in scenario["actions"]:
        body = next(iter(action.values()))
        if isinstance(body, dict):
            for key in ("user_id", "device_id", "insert_id", "group_value"):
                if body.get(key) is not None:
                    body[key] = add(body[key])
            if isinstance(body.get("groups"), dict):
                body["groups"] = {g: add(v) for g, v in body["groups"].items()}
    return scenario


def option_values(body):
    """The event options the action gives, typed as the Python SDK requires (it silently drops
    an option of the wrong type, e.g. a float time)."""
    out = {}
    for key in OPTION_KEYS:
        value = body.get(key)
        if value is None:
            continue
        if key in INT_OPTIONS and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif key in FLOAT_OPTIONS and isinstance(value, int):
            value = float(value)
        out[key] = value
    return out


def build_identify(operations, where):
    identify = Identify()
    seen = set()
    for op in operations:
        name, prop, value = (op + [None, None])[:3]
        if name != "clear_all":
            if prop in seen:
                warn(f'{where}: property "{prop}" is used by more than one operation; the SDK keeps only the first')
            seen.add(prop)
        if name == "clear_all":
            identify.clear_all()
        elif name == "unset":
            identify.unset(prop)
        else:
            getattr(identify, IDENTIFY_METHODS[name])(prop, value)
    return identify


def build_revenue(body):
    def as_float(v):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    kwargs = {"price": as_float(body["price"])}
    if body.get("quantity") is not None:
        q = body["quantity"]
        kwargs["quantity"] = int(q) if isinstance(q, float) and q.is_integer() else q
    for src, dst in [("product_id", "product_id"), ("revenue_type", "revenue_type"), ("currency", "currency"),
                     ("receipt", "receipt"), ("receipt_sig", "receipt_sig"), ("event_properties", "properties")]:
        if body.get(src) is not None:
            kwargs[dst] = body[src]
    if body.get("revenue") is not None:
        kwargs["revenue"] = as_float(body["revenue"])
    return Revenue(**kwargs)


def matches(expected, event_body):
    return all(event_body.get(k) == v for k, v in expected.items())


class Collector:
    """Matches the SDK's client-level callbacks to scenario actions.

    The SDK does not carry an event-level callback through identify()/group_identify()/revenue()/
    set_group() (load_event_options copies only event fields), so each callback's event is matched
    to the earliest action still waiting whose expected fields (event type, ids, options, properties
    as the SDK builds them) it carries. Identical actions are interchangeable, so this is exact.
    """

    def __init__(self):
        self.lock = threading.Condition()
        self.expected = {}  # action index -> dict of fields the sent event must carry
        self.results = {}
        self.library = None
        self.unmatched = []

    def expect(self, index, fields):
        with self.lock:
            self.expected[index] = fields

    def record(self, index, code, message, event_type=None, insert_id=None):
        with self.lock:
            self.results[index] = {"action": index, "code": code, "message": message,
                                   "event_type": event_type, "insert_id": insert_id}
            self.expected.pop(index, None)
            self.lock.notify_all()

    def callback(self, event, code, message=None):
        try:
            body = event.get_event_body()
        except Exception as e:  # never let a harness bug vanish inside the SDK's worker thread
            warn(f"callback: cannot read event: {e}")
            return
        with self.lock:
            if self.library is None and body.get("library"):
                self.library = body["library"]
            for index in sorted(self.expected):
                if matches(self.expected[index], body):
                    self.results[index] = {"action": index, "code": code, "message": message,
                                           "event_type": body.get("event_type"),
                                           "insert_id": body.get("insert_id")}
                    del self.expected[index]
                    break
            else:
                self.unmatched.append({"code": code, "message": message, "event": body})
            self.lock.notify_all()

    def waiting(self):
        with self.lock:
            return sorted(self.expected)

    def wait(self, deadline):
        with self.lock:
            while self.expected:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.5))
            return True


def flush(client, collector, deadline, timeout_ms):
    """client.flush(), then wait for the futures it returns (None when nothing was queued)."""
    for fut in client.flush() or []:
        if fut is None:
            continue
        try:
            fut.result(max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            die(f"timed out after {timeout_ms} ms waiting for a flush; "
                f"actions still without a callback: {collector.waiting()}", 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server_url")
    parser.add_argument("api_key")
    parser.add_argument("scenario")
    parser.add_argument("--timeout-ms", type=int, default=60000)
    parser.add_argument("--id-suffix", default="")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.timeout_ms <= 0:
        die("--timeout-ms needs a positive number", 2)
    deadline = time.monotonic() + args.timeout_ms / 1000.0

    try:
        with open(args.scenario, encoding="utf-8") as f:
            scenario = json.load(f)
        validate_scenario(scenario)
        scenario = with_id_suffix(scenario, args.id_suffix)
    except (OSError, ValueError) as e:
        die(f"scenario {args.scenario}: {e}", 2)

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="python_client: sdk %(levelname)s: %(message)s")

    collector = Collector()
    cfg = scenario.get("config") or {}
    config = Config(server_url=args.server_url, callback=collector.callback)
    if cfg.get("flush_queue_size") is not None:
        config.flush_queue_size = int(cfg["flush_queue_size"])
    if cfg.get("flush_interval_ms") is not None:
        config.flush_interval_millis = int(cfg["flush_interval_ms"])
    if cfg.get("min_id_length") is not None:
        config.min_id_length = int(cfg["min_id_length"])
    client = Amplitude(args.api_key, config)

    for i, action in enumerate(scenario["actions"]):
        kind = next(iter(action))
        body = action[kind] or {}
        where = f"actions[{i}].{kind}"
        opts = option_values(body)
        expected = {k: v for k, v in opts.items()}
        if kind == "flush":
            flush(client, collector, deadline, args.timeout_ms)
            continue
        has_id = bool(opts.get("user_id")) or bool(opts.get("device_id"))
        if kind == "track":
            extra = {k: body[k] for k in ("event_properties", "user_properties", "groups") if body.get(k) is not None}
            event = BaseEvent(body["event_type"], **opts, **extra)
            expected.update(event_type=body["event_type"], **extra)
            if not has_id:
                collector.record(i, 0, "not sent: the python SDK drops an event with neither user_id nor device_id")
                continue
            collector.expect(i, expected)
            client.track(event)
        elif kind in ("identify", "group_identify"):
            identify = build_identify(body["operations"], where)
            if not identify.is_valid():
                collector.record(i, 0, "not sent: the python SDK drops an identify with no operation")
                continue
            if kind == "identify":
                if not has_id:
                    collector.record(i, 0, "not sent: the python SDK drops an event with neither user_id nor device_id")
                    continue
                expected.update(event_type=constants.IDENTIFY_EVENT, user_properties=identify.user_properties)
                collector.expect(i, expected)
                client.identify(identify, EventOptions(**opts))
            else:
                expected.update(event_type=constants.GROUP_IDENTIFY_EVENT, group_properties=identify.user_properties,
                                groups={body["group_type"]: body["group_value"]})
                collector.expect(i, expected)
                client.group_identify(body["group_type"], body["group_value"], identify, EventOptions(**opts))
        elif kind == "set_group":
            if not has_id:
                collector.record(i, 0, "not sent: the python SDK drops an event with neither user_id nor device_id")
                continue
            expected.update(event_type=constants.IDENTIFY_EVENT, groups={body["group_type"]: body["group_value"]},
                            user_properties=Identify().set(body["group_type"], body["group_value"]).user_properties)
            collector.expect(i, expected)
            client.set_group(body["group_type"], body["group_value"], EventOptions(**opts))
        elif kind == "revenue":
            revenue = build_revenue(body)
            if not revenue.is_valid():
                collector.record(i, 0, "not sent: the python SDK drops a revenue whose price is not a number "
                                       "or whose quantity is not a positive integer")
                continue
            if not has_id:
                collector.record(i, 0, "not sent: the python SDK drops an event with neither user_id nor device_id")
                continue
            expected.update(event_type=constants.AMP_REVENUE_EVENT, event_properties=revenue.get_event_properties())
            collector.expect(i, expected)
            client.revenue(revenue, EventOptions(**opts))

    # `sdk_flush_only`: leave sending to the SDK's flush timer, as the TS clients do (the Python
    # SDK retries on either path).
    if scenario.get("config", {}).get("sdk_flush_only") is not True:
        flush(client, collector, deadline, args.timeout_ms)
    if not collector.wait(deadline):
        with collector.lock:
            waiting = sorted(collector.expected)
            unmatched = collector.unmatched
        detail = f"; callbacks that matched no action: {json.dumps(unmatched)}" if unmatched else ""
        die(f"timed out after {args.timeout_ms} ms; actions still without a callback: {waiting}{detail}", 3)
    client.shutdown()
    if collector.unmatched:
        warn(f"callbacks that matched no action: {json.dumps(collector.unmatched)}")

    results = [collector.results[i] for i in sorted(collector.results)]
    sys.stdout.write(json.dumps({"sdk": "python", "library": collector.library, "results": results}, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - any failure must be a clear non-zero exit
        import traceback
        die(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
