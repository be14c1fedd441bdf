"""`pkcs11spy analyze`: known mistakes in call sequences, found in one pass.

State is kept per process (initialised or not, open sessions, the last token info) and
per session (threads seen, running operations, the previous call); everything else is
forgotten as soon as it is used, so memory stays bounded on very large traces."""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from .findings import Finding
from .records import Event, TraceCall, parse_number

MAX_PER_RULE = 100
# Rules that judge the order of calls: they need every call, so they are not applied to
# a process traced partially (PKCS11SPY_FUNCTIONS, errors-only), where calls are missing
# on purpose.  The others judge one call by its own arguments and result.
SEQUENCE_RULES = {"call-outside-init", "context-login", "initialize-twice", "login-concurrent-threads",
                  "operation-abandoned", "operation-active", "output-after-error", "session-leak",
                  "session-shared-by-threads", "slotlist-count-changed", "slotlist-count-is-capacity",
                  "slotlist-no-size-query", "threads-without-locking"}
# Functions a caller may use before C_Initialize.
BEFORE_INIT_OK = {"C_Initialize", "C_GetFunctionList", "C_GetInterface", "C_GetInterfaceList"}
# Multi-part operation kinds: the *Init that starts them, the calls that may continue or end them.
OPERATIONS = {
    "Sign": ("C_SignInit", {"C_SignUpdate"}, {"C_Sign", "C_SignFinal"}),
    "Verify": ("C_VerifyInit", {"C_VerifyUpdate"}, {"C_Verify", "C_VerifyFinal"}),
    "Encrypt": ("C_EncryptInit", {"C_EncryptUpdate"}, {"C_Encrypt", "C_EncryptFinal"}),
    "Decrypt": ("C_DecryptInit", {"C_DecryptUpdate"}, {"C_Decrypt", "C_DecryptFinal"}),
    "Digest": ("C_DigestInit", {"C_DigestUpdate", "C_DigestKey"}, {"C_Digest", "C_DigestFinal"}),
    "SignRecover": ("C_SignRecoverInit", set(), {"C_SignRecover"}),
    "VerifyRecover": ("C_VerifyRecoverInit", set(), {"C_VerifyRecover"}),
    "FindObjects": ("C_FindObjectsInit", {"C_FindObjects"}, {"C_FindObjectsFinal"}),
}
INIT_TO_KIND = {v[0]: k for k, v in OPERATIONS.items()}
STEP_TO_KIND = {f: k for k, v in OPERATIONS.items() for f in v[1] | v[2]}
CKR_OK = 0
CKR_BUFFER_TOO_SMALL = 0x150
CKR_PIN_INCORRECT = 0xA0
CKR_PIN_LEN_RANGE = 0xA2
CKR_PIN_LOCKED = 0xA4
CKR_USER_ALREADY_LOGGED_IN = 0x100
CKR_OPERATION_ACTIVE = 0x90
CKR_OPERATION_NOT_INITIALIZED = 0x91
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
CKR_MECHANISM_PARAM_INVALID = 0x71
CKR_KEY_TYPE_INCONSISTENT = 0x63
HANDLE_OUTPUTS = {"phSession", "phObject", "phKey", "phPublicKey", "phPrivateKey"}
HANDLE_INPUTS = {"hSession", "hObject", "hKey", "hBaseKey", "hWrappingKey", "hUnwrappingKey"}
UNAVAILABLE = re.compile(r"CK_UNAVAILABLE_INFORMATION|/ -1\b|\b18446744073709551615\b|\b4294967295\b")
PIN_FLAG_MEANINGS = (("LOCKED", "the PIN is now locked"), ("FINAL_TRY", "one try is left"),
                     ("COUNT_LOW", "the retry count is low"))
NULL_ARGS = {"NULL", "(nil)", "0x0", "0"}  # how the spies print a NULL pInitArgs
PIN_LENGTH = re.compile(r"(?:hidden: (\d+) bytes|/ (\d+))")


@dataclass
class Operation:
    init: TraceCall
    kind: str


@dataclass
class SessionState:
    opened_by: Optional[TraceCall]
    threads: Set[str] = field(default_factory=set)
    operations: Dict[str, Operation] = field(default_factory=dict)
    previous: Optional[TraceCall] = None  # last call that returned on this session
    last_failed_init: Optional[TraceCall] = None


@dataclass
class ProcessState:
    initialized: bool = False
    init_call: Optional[TraceCall] = None
    finalized_by: Optional[TraceCall] = None
    calls_seen: int = 0
    sessions: Dict[int, SessionState] = field(default_factory=dict)
    token_info: Optional[TraceCall] = None
    logins_ok: List[TraceCall] = field(default_factory=list)
    logins_running: List[TraceCall] = field(default_factory=list)  # entered, not yet returned
    already_waiting: List[TraceCall] = field(default_factory=list)  # ALREADY_LOGGED_IN, winner not seen yet
    failed_handles: Dict[int, TraceCall] = field(default_factory=dict)
    slot_query: Dict[str, TraceCall] = field(default_factory=dict)  # thread -> last size query
    key_types: Dict[int, str] = field(default_factory=dict)
    pin_waiting: List[Finding] = field(default_factory=list)  # wrong-PIN findings awaiting token flags
    unlocked_init: Optional[TraceCall] = None  # a C_Initialize(NULL): no concurrent calls promised
    running: Dict[str, TraceCall] = field(default_factory=dict)  # thread -> call entered, not returned
    concurrency_reported: bool = False


def _printable(data: bytes) -> bool:
    return all(chr(b) in string.printable and b not in (0x0b, 0x0c) for b in data)


class Analyzer:
    def __init__(self) -> None:
        self.processes: Dict[Tuple[str, str], ProcessState] = {}
        # Calls made outside C_Initialize..C_Finalize, judged when they return: call -> the
        # C_Finalize before them, or None when no C_Initialize came first.
        self.outside_init: Dict[int, Optional[TraceCall]] = {}
        self.findings: List[Finding] = []
        self.suppressed: Dict[str, int] = {}
        self.per_rule: Dict[str, int] = {}
        # file -> what was traced, for files whose banner says calls were left out (the
        # whole file is judged partial: in our text layout the pid follows the banner)
        self.partial: Dict[str, str] = {}
        self.skipped_partial = 0

    def add(self, finding: Finding) -> Finding:
        if finding.rule in SEQUENCE_RULES and any(c.source in self.partial for c in finding.calls):
            self.skipped_partial += 1
            return finding
        n = self.per_rule.get(finding.rule, 0) + 1
        self.per_rule[finding.rule] = n
        if n <= MAX_PER_RULE:
            self.findings.append(finding)
        else:
            self.suppressed[finding.rule] = self.suppressed.get(finding.rule, 0) + 1
        return finding

    def proc(self, call: TraceCall) -> ProcessState:
        return self.processes.setdefault((call.source, call.process), ProcessState())

    # -- events ------------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        call = event.call
        if event.kind == "enter":
            self._enter(call)
        elif event.kind == "exit":
            self._exit(call)
        elif event.kind == "partial":
            self.partial[event.extra.get("source", "")] = event.extra.get("what", "")
        elif event.kind == "hang":
            self.outside_init.pop(id(call), None)  # ids are reused once a call is gone
            self.add(Finding("never-returned", [call],
                             f"{call.function} was called and never returned before the trace ended.",
                             "Look for a hang or crash inside the module at that call (a deadlock at "
                             "teardown, a blocking C_WaitForSlotEvent, a killed process)."))

    def finish(self) -> None:
        for (source, process), p in self.processes.items():
            for handle, s in p.sessions.items():
                self._abandon_all(s, "the trace ended")
                if s.opened_by is not None:
                    self.add(Finding("session-leak", [s.opened_by],
                                     f"Session 0x{handle:x} opened here was never closed before the trace ended.",
                                     "Check that every C_OpenSession has a matching C_CloseSession on all "
                                     "paths, including error paths (leaked sessions end in CKR_SESSION_COUNT)."))
            for f in p.pin_waiting:
                f.details.append("no later C_GetTokenInfo in the trace shows the PIN counters")
            for call in p.already_waiting:
                self.add(Finding("login-concurrent-threads", [call],
                                 f"C_Login failed with CKR_USER_ALREADY_LOGGED_IN in thread {call.tid} while "
                                 "another thread's login was running.",
                                 "Login state is per token, shared by all sessions and threads: log in once."))

    # -- entry: ordering rules ----------------------------------------------------------
    def _enter(self, call: TraceCall) -> None:
        p = self.proc(call)
        p.calls_seen += 1
        fn = call.function
        if fn not in BEFORE_INIT_OK and not p.initialized:
            self.outside_init[id(call)] = p.finalized_by
        h = call.session
        if h is not None and h in p.sessions and call.tid:
            p.sessions[h].threads.add(call.tid)
        if fn == "C_Login":
            p.logins_running.append(call)
        self._threads_without_locking(p, call)

    # -- exit: result rules --------------------------------------------------------------
    def _exit(self, call: TraceCall) -> None:
        p = self.proc(call)
        if call.tid and p.running.get(call.tid) is call:
            del p.running[call.tid]
        self._outside_init(call)
        self._lifecycle(p, call)
        self._trusted_outputs(p, call)
        self._slot_list(p, call)
        self._login(p, call)
        self._operations(p, call)
        self._attributes(p, call)
        self._mechanism(p, call)
        h = call.session
        if h is not None and h in p.sessions:
            p.sessions[h].previous = call

    def _threads_without_locking(self, p: ProcessState, call: TraceCall) -> None:
        """C_Initialize(NULL) promises the module that no two calls run at once; a module
        may then run without locks (SoftHSM2 does, and crashes).  Reported once per
        process, at the first call that starts while another thread's call runs."""
        if not call.tid:
            return
        if p.unlocked_init is not None and not p.concurrency_reported:
            other = next((c for tid, c in p.running.items() if tid != call.tid), None)
            if other is not None:
                p.concurrency_reported = True
                init = p.unlocked_init
                self.add(Finding(
                    "threads-without-locking", [init, other, call],
                    f"C_Initialize #{init.seq} passed NULL, promising the module no concurrent calls, but "
                    f"{call.function} #{call.seq} (thread {call.tid}) started while {other.function} "
                    f"#{other.seq} (thread {other.tid}) was still running.",
                    "Pass CK_C_INITIALIZE_ARGS with CKF_OS_LOCKING_OK (or mutex callbacks) when calling from "
                    "several threads, or serialise the calls: a module initialised with NULL may run without "
                    "locks and crash (SoftHSM2 does)."))
        p.running[call.tid] = call

    def _outside_init(self, call: TraceCall) -> None:
        if id(call) not in self.outside_init:
            return
        where = self.outside_init.pop(id(call))
        when = "before C_Initialize" if where is None else f"after C_Finalize (#{where.seq})"
        calls = [call] if where is None else [where, call]
        if call.ok:
            self.add(Finding("call-outside-init", calls,
                             f"{call.function} was called {when} and the module answered CKR_OK.",
                             "The caller must initialise first; a module that says CKR_OK here hides that "
                             "mistake (it should return CKR_CRYPTOKI_NOT_INITIALIZED)."))
        else:
            self.add(Finding("call-outside-init", calls,
                             f"{call.function} was called {when} and failed with {call.rv_name}.",
                             "Check who finalised the module (another library in the same process?) or "
                             "whether C_Initialize was skipped."))

    def _lifecycle(self, p: ProcessState, call: TraceCall) -> None:
        fn = call.function
        if fn == "C_Initialize":
            if call.rv == CKR_CRYPTOKI_ALREADY_INITIALIZED:
                first = p.calls_seen <= 3 and p.init_call is None
                why = ("as the first C_Initialize of this process: typically a forked child that inherited "
                       "the parent's initialised module" if first else "because it was initialised before")
                self.add(Finding("initialize-twice", [c for c in (p.init_call, call) if c],
                                 f"C_Initialize returned CKR_CRYPTOKI_ALREADY_INITIALIZED {why}.",
                                 "In a forked child, call C_Finalize then C_Initialize again (or use a "
                                 "fork-safe interface); otherwise make one component own initialisation."))
                p.initialized = True
            elif p.initialized and p.init_call is not None:
                self.add(Finding("initialize-twice", [p.init_call, call],
                                 f"C_Initialize was called again without C_Finalize since #{p.init_call.seq}, "
                                 f"and the module answered {call.rv_name}.",
                                 "Check for two libraries each initialising the same module; the second "
                                 "should expect CKR_CRYPTOKI_ALREADY_INITIALIZED."))
            elif call.ok:
                p.initialized, p.init_call, p.finalized_by = True, call, None
                args = (call.text("pInitArgs") or "").strip()
                p.unlocked_init = call if args in NULL_ARGS else None
        elif fn == "C_Finalize" and call.ok:
            for handle, s in list(p.sessions.items()):
                self._abandon_all(s, f"C_Finalize #{call.seq}")
                if s.opened_by is not None:
                    self.add(Finding("session-leak", [s.opened_by, call],
                                     f"Session 0x{handle:x} was never closed; only C_Finalize #{call.seq} ended it.",
                                     "Close sessions with C_CloseSession when done; a long-running process "
                                     "that never finalises would leak them."))
            p.sessions.clear()
            p.initialized, p.finalized_by = False, call
            p.unlocked_init = None
        elif fn == "C_OpenSession" and call.ok:
            h = call.number("phSession", "out")
            if h is not None:
                p.sessions[h] = SessionState(call, {call.tid} if call.tid else set())
        elif fn == "C_CloseSession" and call.ok:
            s = p.sessions.pop(call.session, None) if call.session is not None else None
            if s:
                self._abandon_all(s, f"C_CloseSession #{call.seq}")
        elif fn == "C_CloseAllSessions" and call.ok:
            for s in p.sessions.values():
                self._abandon_all(s, f"C_CloseAllSessions #{call.seq}")
            p.sessions.clear()

    def _trusted_outputs(self, p: ProcessState, call: TraceCall) -> None:
        if p.failed_handles:
            self._used_failed_handle(p, call)
        if not call.ok and call.rv != CKR_BUFFER_TOO_SMALL:
            for a in call.outs:
                if a.key in HANDLE_OUTPUTS:
                    v = parse_number(a.value.split("=>")[-1])
                    if v:
                        p.failed_handles[v] = call
        elif call.ok and p.failed_handles:
            for a in call.outs:
                if a.key in HANDLE_OUTPUTS:
                    v = parse_number(a.value.split("=>")[-1])
                    if v is not None:
                        p.failed_handles.pop(v, None)

    def _used_failed_handle(self, p: ProcessState, call: TraceCall) -> None:
        for key in HANDLE_INPUTS:
            v = call.number(key)
            if v is not None and v in p.failed_handles:
                bad = p.failed_handles.pop(v)
                self.add(Finding("output-after-error", [bad, call],
                                 f"{call.function} used {key} = 0x{v:x}, a value printed by "
                                 f"{bad.function} #{bad.seq}, which failed with {bad.rv_name}.",
                                 "Outputs of a failed call are not valid: check the caller's error handling "
                                 "after that call."))

    def _slot_list(self, p: ProcessState, call: TraceCall) -> None:
        if call.function != "C_GetSlotList":
            return
        out_list = call.arg("pSlotList", "out")
        in_count = call.number("pulCount")
        out_count = call.number("pulCount", "out")
        listed = [d for d in (out_list.details if out_list else []) if d.startswith("Slot ")]
        count_line = next((d for d in (out_list.details if out_list else []) if d.startswith("Count is")), None)
        if count_line and out_count is None:
            out_count = parse_number(count_line.split()[-1])
        is_fill = bool(listed) or in_count is not None or (out_list is not None and count_line is None)
        thread = call.tid or "?"
        if not is_fill:
            p.slot_query[thread] = call
            return
        query = p.slot_query.pop(thread, None)
        if query is None:
            self.add(Finding("slotlist-no-size-query", [call],
                             "C_GetSlotList was called with a buffer without a size query (NULL list) first.",
                             "The caller guessed the slot count; check it handles CKR_BUFFER_TOO_SMALL and "
                             "slots that appear later."))
        queried = query.number("pulCount", "out") if query else None
        if query is not None and queried is None:
            cl = next((d for d in (query.arg("pSlotList", "out").details if query.arg("pSlotList", "out") else [])
                       if d.startswith("Count is")), None)
            queried = parse_number(cl.split()[-1]) if cl else None
        if call.ok and in_count is not None and out_count == in_count and (
                (queried is not None and queried != in_count) or len(listed) < (out_count or 0)):
            self.add(Finding("slotlist-count-is-capacity", [call],
                             f"C_GetSlotList returned a count ({out_count}) equal to the caller's capacity but "
                             f"listed {len(listed)} slot(s) (size query said {queried}).",
                             "The module may leave the capacity in *pulCount instead of the real count; "
                             "check the module's slot handling."))
        elif call.rv == CKR_BUFFER_TOO_SMALL or (queried is not None and out_count is not None and queried != out_count
                                               and call.ok):
            self.add(Finding("slotlist-count-changed", [c for c in (query, call) if c],
                             f"The slot count changed between the size query ({queried}) and the fill call "
                             f"({out_count}, {call.rv_name}).",
                             "A reader or token came or went in between; the caller must loop until the two "
                             "counts agree."))

    def _login(self, p: ProcessState, call: TraceCall) -> None:
        fn = call.function
        if fn == "C_GetTokenInfo" and call.ok:
            p.token_info = call
            for f in p.pin_waiting:
                f.details.append(self._pin_state(call, f.calls[-1]))
                f.calls.append(call)
            p.pin_waiting.clear()
            return
        if fn in ("C_Logout", "C_Finalize", "C_CloseAllSessions") and call.ok:
            p.logins_ok.clear()  # the token is logged out: an earlier login explains nothing later
        if fn != "C_Login":
            return
        user = call.text("userType") or ""
        p.logins_running = [c for c in p.logins_running if c is not call]
        if call.rv == CKR_USER_ALREADY_LOGGED_IN:
            others = [c for c in p.logins_ok if c.tid != call.tid]
            if others:
                self._already_logged_in(others[-1], call)
            elif any(c.tid != call.tid for c in p.logins_running):
                p.already_waiting.append(call)  # the login that won may still be running
            else:
                self.add(Finding("login-concurrent-threads", p.logins_ok[-1:] + [call],
                                 "C_Login failed with CKR_USER_ALREADY_LOGGED_IN: the token was logged in already.",
                                 "Login is per token: check the session state (C_GetSessionInfo) before "
                                 "logging in again."))
        if call.ok and p.already_waiting and "CONTEXT_SPECIFIC" not in user:
            for waiting in p.already_waiting:
                self._already_logged_in(call, waiting)
            p.already_waiting.clear()
        if call.ok and "CONTEXT_SPECIFIC" not in user:
            p.logins_ok.append(call)
            p.logins_ok = p.logins_ok[-8:]
        if "CONTEXT_SPECIFIC" in user:
            self._context_login(p, call)
        if call.rv in (CKR_PIN_INCORRECT, CKR_PIN_LEN_RANGE, CKR_PIN_LOCKED):
            self._wrong_pin(p, call, user)

    def _already_logged_in(self, winner: TraceCall, loser: TraceCall) -> None:
        self.add(Finding("login-concurrent-threads", [winner, loser],
                         f"C_Login #{loser.seq} failed with CKR_USER_ALREADY_LOGGED_IN in thread {loser.tid} "
                         f"because thread {winner.tid} logged in (#{winner.seq}).",
                         "Login state is per token, shared by all sessions and threads: log in once, or treat "
                         "CKR_USER_ALREADY_LOGGED_IN as success."))

    def _context_login(self, p: ProcessState, call: TraceCall) -> None:
        s = p.sessions.get(call.session) if call.session is not None else None
        prev = s.previous if s else None
        if prev is not None and prev.function in INIT_TO_KIND and prev.function != "C_FindObjectsInit":
            if not prev.ok:
                self.add(Finding("context-login", [prev, call],
                                 f"C_Login(CKU_CONTEXT_SPECIFIC) followed {prev.function} #{prev.seq}, which "
                                 f"failed with {prev.rv_name}; there is no operation to authorise.",
                                 f"Check the failure of {prev.function} first; the login answered {call.rv_name}."))
            return
        active = [o for o in (s.operations.values() if s else []) if o.kind != "FindObjects"]
        init = active[-1].init if active else None
        failed_init = None
        if init is None and s is not None:
            failed_init = s.last_failed_init
        if failed_init is not None:
            self.add(Finding("context-login", [failed_init, call],
                             f"C_Login(CKU_CONTEXT_SPECIFIC) came after {failed_init.function} #{failed_init.seq} "
                             f"failed with {failed_init.rv_name}.",
                             "A context-specific login authorises the operation just initialised; fix the failed "
                             "*Init first."))
            return
        gap = f"{prev.function} #{prev.seq}" if prev is not None else "nothing on this session"
        self.add(Finding("context-login", [c for c in (init, prev, call) if c],
                         f"C_Login(CKU_CONTEXT_SPECIFIC) does not follow its *Init immediately: the previous call "
                         f"on session 0x{call.session or 0:x} was {gap}" +
                         (f", after {init.function} #{init.seq}." if init is not None and init is not prev
                          else "."),
                         f"Call C_Login(CKU_CONTEXT_SPECIFIC) right after the *Init, with no other call on the "
                         f"session in between (the module answered {call.rv_name})."))

    def _pin_state(self, info: TraceCall, login: TraceCall) -> str:
        flags = " ".join(info.arg("pInfo", "out").details) if info.arg("pInfo", "out") else ""
        so = "CKU_SO" in (login.text("userType") or "")
        prefix = "CKF_SO_PIN_" if so else "CKF_USER_PIN_"
        names = [text for suffix, text in PIN_FLAG_MEANINGS if prefix + suffix in flags]
        return (f"token flags at #{info.seq} C_GetTokenInfo: " + ("; ".join(names) if names else
                f"no {prefix}COUNT_LOW/FINAL_TRY/LOCKED flag set"))

    def _wrong_pin(self, p: ProcessState, call: TraceCall, user: str) -> None:
        pin = call.arg("pPin")
        details = []
        length = None
        if pin is not None:
            m = PIN_LENGTH.search(pin.value)
            length = int(m.group(1) or m.group(2)) if m else None
            text_known = "printable text" in pin.value or pin.data is not None
            printable = ("not printable" not in pin.value) if pin.data is None else _printable(pin.data)
            if text_known and not printable:
                self.add(Finding("pin-not-printable", [call],
                                 f"The PIN given to C_Login ({length} bytes) is not printable text.",
                                 "The caller may pass a wrong buffer or length (garbage, a NUL, binary data); "
                                 "check how it reads the PIN."))
        info = p.token_info
        if length is not None and info is not None:
            lo = _field(info, "ulMinPinLen")
            hi = _field(info, "ulMaxPinLen")
            if lo is not None and hi is not None and not lo <= length <= hi:
                self.add(Finding("pin-length", [info, call],
                                 f"The PIN has {length} bytes but the token accepts {lo}..{hi} "
                                 f"(C_GetTokenInfo #{info.seq}); C_Login said {call.rv_name}.",
                                 "Look for an extra newline, a missing digit or the wrong secret being passed."))
        if call.rv == CKR_PIN_LEN_RANGE:
            return
        what = (f"C_Login({user or '?'}) failed with {call.rv_name}: the PIN was refused" if call.rv != CKR_PIN_LOCKED
                else f"C_Login({user or '?'}) failed with CKR_PIN_LOCKED: the PIN is blocked")
        f = self.add(Finding("wrong-pin", [call], what + (f" ({length} bytes)." if length is not None else "."),
                             "Stop retrying automatically; check the PIN source and the token's PIN counters "
                             "(C_GetTokenInfo flags) before the next try.", details))
        if info is not None and info.seq < call.seq:
            f.details.append("before: " + self._pin_state(info, call))
        p.pin_waiting.append(f)

    def _operations(self, p: ProcessState, call: TraceCall) -> None:
        h = call.session
        s = p.sessions.get(h) if h is not None else None
        fn = call.function
        if call.rv in (CKR_OPERATION_ACTIVE, CKR_OPERATION_NOT_INITIALIZED) and s is not None and len(s.threads) > 1:
            self.add(Finding("session-shared-by-threads", [call],
                             f"{fn} failed with {call.rv_name} on session 0x{h:x}, which threads "
                             f"{', '.join(sorted(s.threads))} all use.",
                             "A session is not safe to share between threads: give each thread its own session "
                             "or serialise whole operations."))
        if s is None:
            return
        if call.rv == CKR_OPERATION_ACTIVE and len(s.threads) <= 1:
            running = [o for o in s.operations.values() if o.init is not call]
            if running:
                op = running[-1]
                self.add(Finding("operation-active", [op.init, call],
                                 f"{fn} failed with CKR_OPERATION_ACTIVE: the {op.kind} operation started by "
                                 f"{op.init.function} #{op.init.seq} on session 0x{h:x} was still running.",
                                 "Finish or end that operation first (many modules allow one operation per "
                                 "session at a time), or use a second session."))
        if fn in INIT_TO_KIND:
            kind = INIT_TO_KIND[fn]
            old = s.operations.get(kind)
            if call.ok:
                if old is not None:
                    self._abandon(s, old, f"{fn} #{call.seq} started a new one")
                s.operations[kind] = Operation(call, kind)
                s.last_failed_init = None
            else:
                s.last_failed_init = call
            return
        kind = STEP_TO_KIND.get(fn)
        if kind is None or kind not in s.operations:
            return
        final = fn in OPERATIONS[kind][2]
        size_query = call.ok and any(a.value.startswith("NULL") for a in call.outs)
        if call.rv == CKR_BUFFER_TOO_SMALL or size_query:
            return
        if not call.ok or final:
            s.operations.pop(kind, None)

    def _abandon(self, s: SessionState, op: Operation, why: str) -> None:
        s.operations.pop(op.kind, None)
        self.add(Finding("operation-abandoned", [op.init],
                         f"The {op.kind} operation started by {op.init.function} #{op.init.seq} never finished: "
                         f"{why}.",
                         "End every multi-part operation with its final call (or a one-shot call) or an error; "
                         "check the error paths of the caller."))

    def _abandon_all(self, s: SessionState, why: str) -> None:
        for op in list(s.operations.values()):
            self._abandon(s, op, why)

    def _attributes(self, p: ProcessState, call: TraceCall) -> None:
        if call.function not in ("C_GetAttributeValue",) :
            return
        tmpl = call.arg("pTemplate", "out")
        if tmpl is None:
            return
        for d in tmpl.details:
            if d.startswith("CKA_KEY_TYPE") and call.ok:
                obj = call.number("hObject")
                if obj is not None:
                    p.key_types[obj] = d.split()[1] if len(d.split()) > 1 else "?"
        if call.ok:
            bad = [d.split()[0] for d in tmpl.details if UNAVAILABLE.search(d)]
            if bad:
                self.add(Finding("attribute-unavailable-ok", [call],
                                 f"C_GetAttributeValue returned CKR_OK with an unavailable length "
                                 f"(CK_UNAVAILABLE_INFORMATION) for {', '.join(bad)}.",
                                 "The spec requires an error code (e.g. CKR_ATTRIBUTE_SENSITIVE) in that case: the "
                                 "module is wrong, and the caller must not allocate that length."))

    def _mechanism(self, p: ProcessState, call: TraceCall) -> None:
        if call.rv not in (CKR_MECHANISM_PARAM_INVALID, CKR_KEY_TYPE_INCONSISTENT):
            return
        mech = call.text("pMechanism->type") or "?"
        params = [f"{a.name} = {a.value}" for a in call.ins if a.name.startswith("pMechanism->p")]
        key = None
        for k in ("hKey", "hBaseKey", "hWrappingKey", "hUnwrappingKey"):
            if call.number(k) is not None:
                key = (k, call.number(k))
                break
        key_type = p.key_types.get(key[1]) if key else None
        details = [f"mechanism: {mech}"] + [f"  {x}" for x in params]
        if key:
            details.append(f"key: {key[0]} = 0x{key[1]:x}, key type "
                           f"{key_type or 'not seen in this trace (read CKA_KEY_TYPE to know it)'}")
        self.add(Finding("mechanism-vs-key", [call],
                         f"{call.function} failed with {call.rv_name} for {mech}.",
                         "Compare the mechanism, its parameters and the key type side by side: "
                         + ("the parameters do not fit the mechanism or key." if call.rv == CKR_MECHANISM_PARAM_INVALID
                            else "the key's type does not fit this mechanism."), details))


def _field(info: TraceCall, name: str) -> Optional[int]:
    a = info.arg("pInfo", "out")
    for d in (a.details if a else []):
        if d.startswith(name + ":"):
            return parse_number(d.split(":", 1)[1])
    return None
