"""The generic entry/exit walker, driven by the function table.

Each argument kind has an entry decoder (inputs, and the "in" side of in/out
arguments) and an exit decoder (outputs).  A decoder that raises costs only its own
argument: the record says ``decode error`` there and the call goes on unchanged.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from ..functions import IN, INOUT, OUT, Arg as FnArg, Function
from ..memory import ULONG_SIZE, memory
from ..model import (Arg, Bytes, Const, DecodeError, Field, InOut, Items, Mechanism, Null, Pointer,
                     Scalar, Struct, Text, Unreadable, Value, Version)
from .. import catalog
from ..native import ffi
from . import attributes, interfaces, mechanisms, message, values
from .. import redact
from . import attributes, values

CKR_OK = 0x0
CKR_ATTRIBUTE_SENSITIVE = 0x11
CKR_ATTRIBUTE_TYPE_INVALID = 0x12
CKR_BUFFER_TOO_SMALL = 0x150
# C_GetAttributeValue fills the other attributes under these codes too.
GET_ATTRIBUTE_RESULTS = {CKR_OK, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL}
MAX_LIST_ITEMS = 4096


class CallData:
    """One call's raw arguments and what decoding learned on entry."""

    def __init__(self, function: Function, raw: List[int], cap: int, show_secrets: bool,
                 policy: Optional[redact.Policy] = None) -> None:
        self.function = function
        self.raw = dict(zip(_names(function), raw))
        # The tracer passes its one policy (it remembers PIN limits across calls).
        self.policy = policy if policy is not None else redact.default_policy(show_secrets)
        self.ctx = attributes.Context(cap, show_secrets, self.policy)
        self.rv: Optional[int] = None
        self.entry: Dict[str, Value] = {}   # in-side values of in/out arguments
        self.mechanism: Optional[int] = None  # of a pMechanism argument: implies key types
        self.notes: List[str] = []          # said about the call on entry
        self.exit_notes: List[str] = []     # said about its results

    def value(self, name: str) -> int:
        return self.raw[name]

    def pointee(self, name: str) -> Optional[int]:
        """The CK_ULONG an argument points to, read now."""
        address = self.raw[name]
        return memory.ulong(address) if address else None


_arg_names: Dict[str, tuple] = {}


def _names(function: Function) -> tuple:
    names = _arg_names.get(function.name)
    if names is None:
        names = _arg_names[function.name] = tuple(a.name for a in function.args)
    return names


def _label_of_length(name: str) -> str:
    # pulSignatureLen -> ulSignatureLen, as in OpenSC's layout
    return name[1:] if name.startswith("pul") else name


_buffer_labels: Dict[Tuple[str, Optional[str]], str] = {}  # by names, as _partners


def buffer_label(arg: FnArg) -> str:
    key = (arg.name, arg.length)
    label = _buffer_labels.get(key)
    if label is None:
        label = _buffer_labels[key] = f"{arg.name}[{_label_of_length(arg.length)}]" if arg.length else arg.name
    return label


# ---- entry decoders ------------------------------------------------------------------

def _in_scalar(call: CallData, arg: FnArg) -> Value:
    return Scalar(call.value(arg.name))


def _in_bool(call: CallData, arg: FnArg) -> Value:
    return values.boolean(call.value(arg.name))


def _in_pointer(call: CallData, arg: FnArg) -> Value:
    return Pointer(call.value(arg.name))


def _in_bytes(call: CallData, arg: FnArg) -> Value:
    address, length = call.value(arg.name), call.value(arg.length)
    if call.policy.hides(arg):
        return call.policy.redacted(arg, address, length, _slot_of(call))
    return values.buffer(address, length, call.ctx.cap)


def _slot_of(call: CallData) -> Optional[int]:
    """The slot a call is about (PIN facts depend on the token's limits)."""
    if "slotID" in call.raw:
        return call.raw["slotID"]
    if "hSession" in call.raw:
        return call.policy.slot_of_session(call.raw["hSession"])
    return None


def _in_count(call: CallData, arg: FnArg) -> Optional[Value]:
    # The capacity going in is meaningful only when a buffer comes with it.
    lists = [a for a in call.function.args if a.length == arg.name]
    if lists and call.value(lists[0].name) == 0:
        return None
    n = call.pointee(arg.name)
    return None if n is None else Scalar(n, decimal=True)


def _in_template(call: CallData, arg: FnArg) -> Value:
    return attributes.template(call.value(arg.name), call.value(arg.length), call.ctx,
                               key_type=attributes.key_type_of_mechanism(call.mechanism))


def _in_template_get(call: CallData, arg: FnArg) -> Value:
    return attributes.template(call.value(arg.name), call.value(arg.length), call.ctx, with_value=False)


def _in_mechanism(call: CallData, arg: FnArg) -> Value:
    address = call.value(arg.name)
    if address == 0:
        return Null()
    m = memory.struct("CK_MECHANISM", address)
    if m is None:
        return Unreadable(address, ffi.sizeof("CK_MECHANISM"))
    mechanism = int(m.mechanism)
    call.mechanism = mechanism
    length = int(m.ulParameterLen)
    param_address = int(ffi.cast("uintptr_t", m.pParameter))
    reader = mechanisms.Reader(call.ctx.cap, call.ctx.show_secrets,
                               lambda a, n: attributes.template(a, n, call.ctx))
    param = mechanisms.decode(mechanism, param_address, length, reader)
    kind = values.const("CKM", mechanism)
    return Mechanism(kind if isinstance(kind, Const) else Const(mechanism, hex(mechanism), "CKM"),
                     param, length)


def _in_init_args(call: CallData, arg: FnArg) -> Value:
    address = call.value(arg.name)
    if address == 0:
        return Null()
    a = memory.struct("CK_C_INITIALIZE_ARGS", address)
    if a is None:
        return Unreadable(address, ffi.sizeof("CK_C_INITIALIZE_ARGS"))

    def is_set(p) -> Value:
        # The callback's address: NULL, or set (where it points says nothing more).
        return Pointer(int(ffi.cast("uintptr_t", p)))

    return Struct("CK_C_INITIALIZE_ARGS", [
        Field("CreateMutex", is_set(a.CreateMutex)),
        Field("DestroyMutex", is_set(a.DestroyMutex)),
        Field("LockMutex", is_set(a.LockMutex)),
        Field("UnlockMutex", is_set(a.UnlockMutex)),
        Field("flags", values.flags("init_args", int(a.flags))),
        Field("pReserved", Pointer(int(ffi.cast("uintptr_t", a.pReserved)))),
    ])


def _in_label32(call: CallData, arg: FnArg) -> Value:
    address = call.value(arg.name)
    if address == 0:
        return Null()
    data = memory.read(address, 32)
    return Unreadable(address, 32) if data is None else values.fixed_text(data)


def _in_cstring(call: CallData, arg: FnArg) -> Value:
    address = call.value(arg.name)
    if address == 0:
        return Null()
    data = memory.cstring(address)
    return Unreadable(address, 0) if data is None else values.utf8_text(data)


def _in_version(call: CallData, arg: FnArg) -> Value:
    address = call.value(arg.name)
    if address == 0:
        return Null()
    v = memory.struct("CK_VERSION", address)
    return Unreadable(address, 2) if v is None else values.version(v)


def _in_message_param(call: CallData, arg: FnArg) -> Value:
    return message.decode_entry(call.function.name, call.value("hSession"), call.value(arg.name),
                                call.value(arg.length), call.ctx.cap)


def _in_message_mechanism(call: CallData, arg: FnArg) -> Value:
    # The mechanism of a C_Message*Init: decoded like any, and remembered for the
    # session's message calls, whose parameter structure it sets.
    message.remember_init(call.function.name, call.value("hSession"), call.value(arg.name))
    return ENTRY["mechanism"](call, arg)


def _in_enum(family: str) -> Callable:
    def decode(call: CallData, arg: FnArg) -> Value:
        return values.const(family, call.value(arg.name))
    return decode


def _in_flags(context: str) -> Callable:
    def decode(call: CallData, arg: FnArg) -> Value:
        return values.flags(context, call.value(arg.name))
    return decode


def _in_async(call: CallData, arg: FnArg) -> Value:
    return _async_data(call.value(arg.name))


def _async_data(address: int) -> Value:
    if address == 0:
        return Null()
    a = memory.struct("CK_ASYNC_DATA", address)
    if a is None:
        return Unreadable(address, ffi.sizeof("CK_ASYNC_DATA"))
    return Struct("CK_ASYNC_DATA", [
        Field("ulVersion", Scalar(int(a.ulVersion), decimal=True)),
        Field("pValue", Pointer(int(ffi.cast("uintptr_t", a.pValue)))),
        Field("ulValue", Scalar(int(a.ulValue), decimal=True)),
        Field("hObject", Scalar(int(a.hObject))),
        Field("hAdditionalObject", Scalar(int(a.hAdditionalObject))),
    ])


def _in_count_value(call: CallData, arg: FnArg) -> Value:
    return Scalar(call.value(arg.name), decimal=True)


ENTRY: Dict[str, Callable] = {
    "handle": _in_scalar,
    "count": _in_count_value,
    "ulong": _in_scalar,
    "bool": _in_bool,
    "pointer": _in_pointer,
    "bytes": _in_bytes,
    "count_ptr": _in_count,
    "template": _in_template,
    "template_get": _in_template_get,
    "mechanism": _in_mechanism,
    "init_args": _in_init_args,
    "label32": _in_label32,
    "cstring": _in_cstring,
    "version_ptr": _in_version,
    "message_param": _in_message_param,
    "message_mechanism": _in_message_mechanism,
    "async_data": _in_async,
}


def entry_decoder(kind: str) -> Optional[Callable]:
    if kind in ENTRY:
        return ENTRY[kind]
    if kind.startswith("enum:"):
        return _in_enum(kind[5:])
    if kind.startswith("flags:"):
        return _in_flags(kind[6:])
    return None  # folded into another argument (lengths), or output only


# ---- exit decoders -------------------------------------------------------------------

# Keyed by names: hashing a frozen dataclass costs more than the lookup saves.
_partners: Dict[Tuple[str, str], FnArg] = {}


def _partner(call: CallData, arg: FnArg) -> FnArg:
    """The argument holding arg's length (looked up once per function argument)."""
    key = (call.function.name, arg.name)
    partner = _partners.get(key)
    if partner is None:
        partner = _partners[key] = call.function.arg(arg.length)
    return partner


def _out_bytes(call: CallData, arg: FnArg) -> List[Arg]:
    address = call.raw[arg.name]
    partner = _partner(call, arg)
    by_pointer = partner.kind == "length_ptr"
    length = call.pointee(partner.name) if by_pointer else call.value(partner.name)
    label = buffer_label(arg)
    if call.rv == CKR_BUFFER_TOO_SMALL and by_pointer:
        return [Arg("*" + partner.name, Scalar(length if length is not None else 0, decimal=True))]
    if call.rv != CKR_OK:
        return []
    if length is None:
        return [Arg(label, Unreadable(call.value(partner.name), ULONG_SIZE))]
    if address == 0:
        return [Arg(label, Null(length))]
    if call.policy.hides(arg):
        return [Arg(label, call.policy.redacted(arg, address, length, _slot_of(call)))]
    return [Arg(label, values.buffer(address, length, call.ctx.cap))]


def _out_handle(call: CallData, arg: FnArg) -> List[Arg]:
    if call.rv != CKR_OK:
        return []
    v = call.pointee(arg.name)
    return [Arg("*" + arg.name, Scalar(v) if v is not None else Null())]


def _out_handle_with(buffer: str) -> Callable:
    """A handle output made only when another argument's buffer was given (not on a size
    query): C_EncapsulateKey's *phKey."""
    def decode(call: CallData, arg: FnArg) -> List[Arg]:
        return _out_handle(call, arg) if call.value(buffer) else []
    return decode


def _out_ulong(call: CallData, arg: FnArg) -> List[Arg]:
    if call.rv != CKR_OK:
        return []
    v = call.pointee(arg.name)
    return [Arg("*" + arg.name, Scalar(v) if v is not None else Null())]


def _out_count(call: CallData, arg: FnArg) -> List[Arg]:
    if call.rv not in (CKR_OK, CKR_BUFFER_TOO_SMALL):
        return []
    after = call.pointee(arg.name)
    if after is None:
        return [Arg("*" + arg.name, Null())]
    before = call.entry.get(arg.name)
    value: Value = Scalar(after, decimal=True) if before is None else InOut(before, Scalar(after, decimal=True))
    return [Arg("*" + arg.name, value)]


def _out_items(kind: str, family: Optional[str]) -> Callable:
    def decode(call: CallData, arg: FnArg) -> List[Arg]:
        if call.rv != CKR_OK:
            return []
        address = call.value(arg.name)
        count = call.pointee(arg.length)
        if address == 0 or count is None:
            return []
        shown = min(count, MAX_LIST_ITEMS)
        array = memory.array("CK_ULONG", address, shown)
        if array is None:
            return [Arg(arg.name, Unreadable(address, count))]
        # Slot ids and handles in hex, as in slotID / hObject arguments: one id, one spelling.
        items = [values.const(family, int(x)) if family else Scalar(int(x)) for x in array]
        return [Arg(arg.name, Items(kind, items, count))]
    return decode


def _out_struct(type_name: str) -> Callable:
    def decode(call: CallData, arg: FnArg) -> List[Arg]:
        if call.rv != CKR_OK:
            return []
        return [Arg(arg.name, values.struct(type_name, call.value(arg.name)))]
    return decode


def _out_template_get(call: CallData, arg: FnArg) -> List[Arg]:
    if call.rv not in GET_ATTRIBUTE_RESULTS:
        return []
    count = call.value(arg.length)
    return [Arg(f"{arg.name}[{count}]",
                attributes.template(call.value(arg.name), count, call.ctx, with_value=True))]


def _out_function_list(call: CallData, arg: FnArg) -> List[Arg]:
    if call.rv != CKR_OK:
        return []
    pointer = call.pointee(arg.name)
    if not pointer:
        return [Arg("*" + arg.name, Null())]
    v = memory.struct("CK_VERSION", pointer)
    version: Value = values.version(v) if v is not None else Unreadable(pointer, 2)
    return [Arg("*" + arg.name, Struct("CK_FUNCTION_LIST", [
        Field("address", Pointer(pointer)), Field("version", version)]))]


def _out_interface_list(call: CallData, arg: FnArg) -> List[Arg]:
    value = interfaces.interface_list(call.value(arg.name), call.pointee(arg.length), call.rv,
                                      call.exit_notes)
    return [] if value is None else [Arg(arg.name, value)]


def _out_interface(call: CallData, arg: FnArg) -> List[Arg]:
    pointer = call.pointee(arg.name) if call.rv == CKR_OK else None
    value = interfaces.interface_answer(pointer, call.rv, call.exit_notes)
    return [] if value is None else [Arg("*" + arg.name, value)]


def _out_message_param(call: CallData, arg: FnArg) -> List[Arg]:
    value = message.decode_exit(call.function.name, call.value("hSession"), call.value(arg.name),
                                call.value(arg.length), call.ctx.cap, call.rv, call.raw.get("flags", 0))
    return [] if value is None else [Arg(arg.name, value)]


def _out_flags(context: str) -> Callable:
    def decode(call: CallData, arg: FnArg) -> List[Arg]:
        if call.rv != CKR_OK:
            return []
        v = call.pointee(arg.name)
        if v is None:
            return [Arg("*" + arg.name, Null())]
        # A set whose bits are all assigned at run time (validation flags) has no names:
        # the number alone says it, without an "unknown bits" line.
        named = _has_names(context)
        return [Arg("*" + arg.name, values.flags(context, v) if named else Scalar(v))]
    return decode


def _has_names(context: str) -> bool:
    try:
        return bool(catalog.flagset(context).family.names())
    except KeyError:
        return False


def _out_async(call: CallData, arg: FnArg) -> List[Arg]:
    if call.rv != CKR_OK:
        return []
    return [Arg(arg.name, _async_data(call.value(arg.name)))]


EXIT: Dict[str, Callable] = {
    "bytes": _out_bytes,
    "handle_ptr": _out_handle,
    "ulong_ptr": _out_ulong,
    "count_ptr": _out_count,
    "slot_list": _out_items("slot", None),
    "mechanism_list": _out_items("mechanism", "CKM"),
    "handle_list": _out_items("object", None),
    "template_get": _out_template_get,
    "function_list_ptr": _out_function_list,
    "interface_list": _out_interface_list,
    "interface_ptr": _out_interface,
    "message_param": _out_message_param,
    "async_data": _out_async,
}


def exit_decoder(kind: str) -> Optional[Callable]:
    if kind in EXIT:
        return EXIT[kind]
    if kind.startswith("struct:"):
        return _out_struct(kind[7:])
    if kind.startswith("flags_ptr:"):
        return _out_flags(kind[10:])
    if kind.startswith("handle_ptr_with:"):
        return _out_handle_with(kind[16:])
    return None


# ---- the walk ------------------------------------------------------------------------

def guarded(decode: Callable, call: CallData, arg: FnArg):
    try:
        return decode(call, arg)
    except Exception as exc:
        return DecodeError(f"{type(exc).__name__}: {exc}")


def _input_label(arg: FnArg) -> Callable[[CallData], str]:
    if arg.kind in ("template", "template_get"):
        return lambda call: f"{arg.name}[{call.value(arg.length)}]"
    if arg.kind == "count_ptr":
        label = "*" + arg.name
    elif arg.kind in ("bytes", "message_param"):
        label = buffer_label(arg)
    else:
        label = arg.name
    return lambda call: label


# Per function, resolved once: what to decode of each argument, and how to label it.
_input_plans: Dict[str, list] = {}
_output_plans: Dict[str, list] = {}


def input_plan(function: Function) -> list:
    plan = _input_plans.get(function.name)
    if plan is None:
        plan = [(arg, entry_decoder(arg.kind), _input_label(arg)) for arg in function.args
                if arg.direction != OUT and entry_decoder(arg.kind) is not None]
        _input_plans[function.name] = plan
    return plan


def output_plan(function: Function) -> list:
    plan = _output_plans.get(function.name)
    if plan is None:
        plan = [(arg, exit_decoder(arg.kind)) for arg in function.args
                if arg.direction != IN and exit_decoder(arg.kind) is not None]
        _output_plans[function.name] = plan
    return plan


def decode_inputs(call: CallData) -> List[Arg]:
    shown: List[Arg] = []
    for arg, decode, label in input_plan(call.function):
        value = guarded(decode, call, arg)
        if value is None:
            continue
        if arg.direction == INOUT:
            call.entry[arg.name] = value
        shown.append(Arg(label(call), value))
    return shown


def decode_outputs(call: CallData, rv: int) -> List[Arg]:
    call.rv = rv
    shown: List[Arg] = []
    for arg, decode in output_plan(call.function):
        result = guarded(decode, call, arg)
        if isinstance(result, DecodeError):
            shown.append(Arg(arg.name, result))
        else:
            shown.extend(result)
    try:
        call.policy.learn(call.function.name, call.raw, rv)
    except Exception:
        pass  # only PIN facts of later calls depend on it
    return shown


# Re-exported names that renderers may want to type-check.
__all__ = ["CallData", "decode_inputs", "decode_outputs", "Bytes", "Items", "Version"]
