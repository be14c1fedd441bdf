"""Print a Conversation as text for people or as one JSON document for scripts.

Redaction happened in decoding (`Data.redacted`): a redacted field has no bytes here
to print, only its length and format.
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, List, Optional, TextIO

from .conversation import Conversation, ErrorChain, Exchange
from .iso7816 import Command, Data, Response

TEXT_BYTES = 32  # longer data is cut in the text output (the JSON has all of it)


def opensc_code_description(code: int) -> Optional[str]:
    """What `pkcs11spy rv CODE` says about an OpenSC SC_ERROR_* code (its name and
    meaning), or None for a code outside OpenSC's table."""
    from ..analysis.codes import OPENSC, lookup  # the rv tables; loaded only when needed
    for reading in lookup(str(code)).readings:
        if reading.table == OPENSC:
            return f"{reading.name}: {reading.meaning}"
    return None


def _hex(data: bytes, limit: Optional[int] = None) -> str:
    if limit is not None and len(data) > limit:
        return " ".join(f"{b:02X}" for b in data[:limit]) + f" ... ({len(data)} bytes)"
    return " ".join(f"{b:02X}" for b in data)


def _data_text(data: Data) -> str:
    if data.redacted:
        return f"<redacted: {data.format}> (--show-secrets shows it)"
    text = _hex(data.raw, TEXT_BYTES)
    if data.format:                        # a secret shown on request: say what it is
        text += f"  [{data.format}]"
    if data.name:
        text += f"  = {data.name}"
    return text


def _command_text(cmd: Command) -> List[str]:
    if cmd.ins is None:
        return [f"?? {_hex(cmd.raw)}  ({cmd.problem})"]
    head = f"{cmd.ins_name}  {_hex(cmd.header)}"
    params = []
    cla = cmd.cla.describe() if cmd.cla else ""
    if cla:
        params.append(f"CLA {cmd.cla.value:02X}: {cla}")  # type: ignore[union-attr]
    if cmd.p1_meaning:
        params.append(f"P1 {cmd.p1:02X}: {cmd.p1_meaning}")
    if cmd.p2_meaning:
        params.append(f"P2 {cmd.p2:02X}: {cmd.p2_meaning}")
    if cmd.p1p2_meaning:
        params.append(f"P1P2 {cmd.p1:02X}{cmd.p2:02X}: {cmd.p1p2_meaning}")
    if cmd.lc is not None:
        params.append(f"Lc={cmd.lc}")
    if cmd.le is not None:
        params.append(f"Le={cmd.le}")
    lines = [head + ("  (" + ", ".join(params) + ")" if params else "")]
    if cmd.data is not None:
        lines.append(f"data: {_data_text(cmd.data)}")
    if cmd.problem:
        lines.append(f"malformed: {cmd.problem}")
    return lines


def _response_text(ex: Exchange) -> str:
    resp: Optional[Response] = ex.response
    if resp is None:
        return f"<- no response: {ex.transport_error}"
    if resp.sw is None:
        return f"<- {_hex(resp.raw)}  (malformed: {resp.problem})"
    text = f"<- {resp.sw_text} {resp.meaning}"
    if resp.redacted:
        text += f"; {resp.data_length} bytes: <redacted: {resp.redacted}> (--show-secrets shows it)"
    elif resp.data:
        text += f"; {len(resp.data)} bytes: {_hex(resp.data, TEXT_BYTES)}"
    if ex.duration_ms is not None:
        text += f"  ({ex.duration_ms:g} ms)"
    if ex.continued:
        text += "  (continued below)"
    return text


def _group_title(ex: Exchange) -> str:
    parts = []
    if ex.pkcs11:
        parts.append(ex.pkcs11 + (f" = {ex.pkcs11_rv}" if ex.pkcs11_rv else ""))
    parts.extend(ex.opensc)
    return " > ".join(parts) if parts else "(no caller in the log)"


def status_counts(conv: Conversation) -> Dict[str, int]:
    counts: Counter = Counter()
    for ex in conv.exchanges:
        if ex.final_error:
            key = ex.response.sw_text if ex.response and ex.response.sw is not None else "no response"
            counts[key] += 1
    return dict(sorted(counts.items()))


def group_chains(chains: List[ErrorChain]) -> List[List[ErrorChain]]:
    """Chains with the same path and codes (a driver probing many AIDs fails the same
    way many times) as one group each, in order of first appearance."""
    groups: Dict[tuple, List[ErrorChain]] = {}
    for chain in chains:
        key = (chain.pkcs11,) + tuple((l.func, l.where, l.code) for l in chain.links)
        groups.setdefault(key, []).append(chain)
    return list(groups.values())


def _chain_text(same: List[ErrorChain]) -> List[str]:
    chain = same[0]
    first = chain.first
    said = opensc_code_description(first.code)
    where = f"line {first.lineno}" if len(same) == 1 else \
        f"{len(same)} times, lines " + ", ".join(str(c.first.lineno) for c in same[:5]) + \
        (", ..." if len(same) > 5 else "")
    lines = [f"{where}: {first.func} ({first.where}) returned {first.code} "
             f"({first.text or 'no text in the log'})"]
    if len(chain.links) > 1:
        lines.append("    then " + " > ".join(f"{l.func} {l.code}" for l in chain.links[1:]))
    if chain.pkcs11:
        lines.append(f"    during {chain.pkcs11}")
    lines.append(f"    pkcs11spy rv {first.code}: {said}" if said else
                 f"    OpenSC says: {first.text or '(nothing)'}  (details: pkcs11spy rv {first.code})")
    return lines


def write_text(conv: Conversation, source: str, out: TextIO) -> None:
    form = {"current": "current form (P:pid; T:thread)", "older": "older form (thread address)"}
    out.write(f"{source}: OpenSC debug log, {form.get(conv.form or '', 'unknown form')}"
              + (f", OpenSC {conv.opensc_version}" if conv.opensc_version else "")
              + f", {conv.lines} lines, {len(conv.exchanges)} APDU exchanges\n")
    title = None
    for ex in conv.exchanges:
        group = (ex.thread, _group_title(ex))
        if group != title:
            title = group
            out.write(f"\n[{ex.thread}] {group[1]}\n")
        cmd_lines = _command_text(ex.command)
        out.write(f"  {ex.time}  #{ex.number} line {ex.lineno}  -> {cmd_lines[0]}\n")
        for extra in cmd_lines[1:]:
            out.write(f"      {extra}\n")
        out.write(f"      {_response_text(ex)}\n")
    out.write("\nSummary\n")
    counts = status_counts(conv)
    failed = sum(counts.values())
    out.write(f"  {len(conv.exchanges)} exchanges, {failed} not completed with 9000"
              + (": " + ", ".join(f"{k} x{v}" for k, v in counts.items()) if counts else "") + "\n")
    if conv.chains:
        groups = group_chains(conv.chains)
        out.write(f"  OpenSC errors: {len(conv.chains)} failing chains, {len(groups)} distinct "
                  "(first error of each):\n")
        for same in groups:
            for line in _chain_text(same):
                out.write(f"  {line}\n")
    else:
        out.write("  OpenSC errors: none\n")


def _command_json(cmd: Command) -> dict:
    obj: dict = {"header": _hex(cmd.header)}
    if cmd.ins is not None and cmd.cla is not None:
        obj.update({
            "cla": {"value": cmd.cla.value, "kind": cmd.cla.kind, "channel": cmd.cla.channel,
                    "chaining": cmd.cla.chaining, "secure_messaging": cmd.cla.secure_messaging},
            "ins": {"value": cmd.ins, "name": cmd.ins_name},
            "p1": {"value": cmd.p1, "meaning": cmd.p1_meaning},
            "p2": {"value": cmd.p2, "meaning": cmd.p2_meaning},
            "p1p2_meaning": cmd.p1p2_meaning,
            "case": cmd.case, "lc": cmd.lc, "le": cmd.le})
    if cmd.data is not None:
        d = cmd.data
        obj["data"] = {"length": len(d.raw), "redacted": d.redacted, "format": d.format,
                       "name": d.name, "hex": None if d.redacted else d.raw.hex().upper()}
    # the whole APDU in hex only when nothing in it is redacted
    obj["hex"] = None if cmd.secret else cmd.raw.hex().upper()
    obj["problem"] = cmd.problem
    return obj


def errors_by_function(conv: Conversation) -> List[dict]:
    """Every error return, per OpenSC function and code, in order of first appearance."""
    table: Dict[tuple, dict] = {}
    for chain in conv.chains:
        for link in chain.links:
            row = table.setdefault((link.func, link.code), {
                "function": link.func, "code": link.code, "text": link.text, "count": 0, "lines": []})
            row["count"] += 1
            if len(row["lines"]) < 10:
                row["lines"].append(link.lineno)
    return list(table.values())


def to_json(conv: Conversation, source: str) -> dict:
    exchanges = []
    for ex in conv.exchanges:
        resp = ex.response
        exchanges.append({
            "n": ex.number, "line": ex.lineno, "time": ex.time, "thread": ex.thread,
            "pkcs11": ex.pkcs11, "pkcs11_rv": ex.pkcs11_rv, "opensc": ex.opensc,
            "command": _command_json(ex.command),
            "response": None if resp is None else {
                "line": ex.response_lineno, "time": ex.response_time,
                "sw": resp.sw_text if resp.sw is not None else None, "meaning": resp.meaning,
                "data_length": resp.data_length, "redacted": resp.redacted,
                "data_hex": None if resp.redacted else resp.data.hex().upper(),
                "problem": resp.problem},
            "duration_ms": ex.duration_ms,
            "continued": ex.continued, "transport_error": ex.transport_error,
            "error": ex.final_error})
    chains = [{
        "thread": c.thread, "pkcs11": c.pkcs11,
        "first": {"line": c.first.lineno, "function": c.first.func, "where": c.first.where,
                  "code": c.first.code, "text": c.first.text,
                  "rv_description": opensc_code_description(c.first.code)},
        "chain": [{"line": l.lineno, "function": l.func, "code": l.code} for l in c.links]}
        for c in conv.chains]
    return {"v": 1, "log": source, "form": conv.form, "opensc_version": conv.opensc_version,
            "lines": conv.lines, "exchanges": exchanges, "opensc_errors": chains,
            "opensc_errors_by_function": errors_by_function(conv),
            "status_errors": status_counts(conv),
            "warnings": [{"line": n, "text": t} for n, t in conv.warnings]}
