"""Protobuf messages of Particle USB control requests (particle-protocols §4.3).

Field numbers and type ids are those of @particle/device-os-protobuf 2.4.2 (`control/config.proto`,
`control/storage.proto`, `control/cellular.proto`). The schema is declared here as data and
turned into message classes by the protobuf library at import time (no generated code). Each
class is a module attribute (`pb.GetModuleInfoReply`); the `TYPE_CHECKING` block at the end is
their static view for mypy, in the style of mypy-protobuf, and tests_unit/test_proto_types.py
keeps it equal to the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "bool": _F.TYPE_BOOL,
    "uint32": _F.TYPE_UINT32,
    "int32": _F.TYPE_INT32,
    "fixed32": _F.TYPE_FIXED32,
}
PACKAGE = "particle.ctrl"

# enum name -> [(value name, number)]
_ENUMS: dict[str, list[tuple[str, int]]] = {
    "DeviceMode": [("NORMAL_MODE", 0), ("LISTENING_MODE", 1)],
    "FileFormat": [("BIN", 0), ("MINIZ", 1)],
    "FirmwareModuleType": [
        ("INVALID_FIRMWARE_MODULE", 0),
        ("BOOTLOADER", 1),
        ("SYSTEM_PART", 2),
        ("USER_PART", 3),
        ("MONO_FIRMWARE", 4),
        ("NCP_FIRMWARE", 5),
        ("RADIO_STACK", 6),
    ],
}
# message name -> [(field name, number, type, repeated)]; a type that is not scalar is a
# message or enum of this file.
_MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "Empty": [],
    "GetDeviceIdReply": [("id", 1, "string", False)],
    "GetSerialNumberReply": [("serial", 1, "string", False)],
    "GetSystemVersionReply": [("version", 1, "string", False)],
    "GetNcpFirmwareVersionReply": [("version", 1, "string", False), ("module_version", 2, "uint32", False)],
    "GetSystemCapabilitiesReply": [("flags", 1, "fixed32", False)],
    "GetDeviceModeReply": [("mode", 1, "DeviceMode", False)],
    "SetDeviceSetupDoneRequest": [("done", 1, "bool", False)],
    "IsDeviceSetupDoneReply": [("done", 1, "bool", False)],
    "StartFirmwareUpdateRequest": [("size", 1, "uint32", False), ("format", 2, "FileFormat", False)],
    "StartFirmwareUpdateReply": [("chunk_size", 1, "uint32", False)],
    "FinishFirmwareUpdateRequest": [("validate_only", 1, "bool", False)],
    "FirmwareUpdateDataRequest": [("data", 1, "bytes", False)],
    "ModuleDependency": [
        ("type", 1, "FirmwareModuleType", False),
        ("index", 2, "uint32", False),
        ("version", 3, "uint32", False),
    ],
    "ModuleInfo": [
        ("type", 1, "FirmwareModuleType", False),
        ("index", 2, "uint32", False),
        ("version", 3, "uint32", False),
        ("size", 4, "uint32", False),
        ("validity", 5, "uint32", False),
        ("dependencies", 6, "ModuleDependency", True),
    ],
    # Device OS < 6.0 fills field 1 (`modules_deprecated`); 6.0+ fills field 2 (cloud.FirmwareModule),
    # which this rig does not model.
    "GetModuleInfoReply": [("modules", 1, "ModuleInfo", True)],
    "GetIccidReply": [("iccid", 1, "string", False), ("imei", 2, "string", False)],
}

# Request type ids (`ctrl_request_type`, §4.3).
DEVICE_ID = 20
SERIAL_NUMBER = 21
SYSTEM_VERSION = 30
NCP_FIRMWARE_VERSION = 31
GET_SYSTEM_CAPABILITIES = 32
RESET = 40
FACTORY_RESET = 41
DFU_MODE = 50
SAFE_MODE = 60
START_LISTENING = 70
STOP_LISTENING = 71
GET_DEVICE_MODE = 72
SET_DEVICE_SETUP_DONE = 73
IS_DEVICE_SETUP_DONE = 74
GET_MODULE_INFO = 90
DIAGNOSTIC_INFO = 100
START_FIRMWARE_UPDATE = 250
FINISH_FIRMWARE_UPDATE = 251
CANCEL_FIRMWARE_UPDATE = 252
FIRMWARE_UPDATE_DATA = 253
CELLULAR_GET_ICCID = 554
ECHO = 1

# FirmwareModuleType <-> module_function_t (§1.2)
MODULE_TYPE_OF_FUNCTION = {2: 1, 4: 2, 5: 3, 3: 4, 7: 5, 8: 6}
FUNCTION_OF_MODULE_TYPE = {v: k for k, v in MODULE_TYPE_OF_FUNCTION.items()}
VALIDITY_INTEGRITY_FAILED = 0x01
VALIDITY_DEPENDENCY_FAILED = 0x02


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name="rig_particle_ctrl.proto", package=PACKAGE, syntax="proto3")
    for name, values in _ENUMS.items():
        enum = proto.enum_type.add(name=name)
        for value_name, number in values:
            enum.value.add(name=value_name, number=number)
    for name, fields in _MESSAGES.items():
        msg = proto.message_type.add(name=name)
        for field_name, number, kind, repeated in fields:
            f = msg.field.add(name=field_name, number=number)
            f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if kind in _TYPES:
                f.type = _TYPES[kind]
            else:
                f.type = _F.TYPE_ENUM if kind in _ENUMS else _F.TYPE_MESSAGE
                f.type_name = f".{PACKAGE}.{kind}"
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
_CLASSES: dict[str, Any] = {
    name: message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in _MESSAGES
}


def new(name: str, **fields: Any) -> Message:
    """Build a message of the schema, e.g. SetDeviceSetupDoneRequest with done=True."""
    message: Message = _CLASSES[name](**fields)
    return message


def encode(name: str, **fields: Any) -> bytes:
    """The serialized bytes of a message."""
    return new(name, **fields).SerializeToString()


def message_class(name: str) -> type[Message]:
    """The class of message `name` (the string-named counterpart of `pb.<name>`)."""
    cls: type[Message] = _CLASSES[name]
    return cls


def decode(name: str, data: bytes) -> Any:
    """Parse bytes as message `name`; raises google.protobuf.message.DecodeError when malformed."""
    message = _CLASSES[name]()
    message.ParseFromString(data)
    return message


if TYPE_CHECKING:  # what mypy sees of the classes built above (enums are ints, as on the wire)
    from collections.abc import Iterable

    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

    class Empty(Message):
        def __init__(self) -> None: ...

    class GetDeviceIdReply(Message):
        id: str

        def __init__(self, *, id: str = "") -> None: ...

    class GetSerialNumberReply(Message):
        serial: str

        def __init__(self, *, serial: str = "") -> None: ...

    class GetSystemVersionReply(Message):
        version: str

        def __init__(self, *, version: str = "") -> None: ...

    class GetNcpFirmwareVersionReply(Message):
        version: str
        module_version: int

        def __init__(self, *, version: str = "", module_version: int = 0) -> None: ...

    class GetSystemCapabilitiesReply(Message):
        flags: int

        def __init__(self, *, flags: int = 0) -> None: ...

    class GetDeviceModeReply(Message):
        mode: int

        def __init__(self, *, mode: int = 0) -> None: ...

    class SetDeviceSetupDoneRequest(Message):
        done: bool

        def __init__(self, *, done: bool = False) -> None: ...

    class IsDeviceSetupDoneReply(Message):
        done: bool

        def __init__(self, *, done: bool = False) -> None: ...

    class StartFirmwareUpdateRequest(Message):
        size: int
        format: int

        def __init__(self, *, size: int = 0, format: int = 0) -> None: ...

    class StartFirmwareUpdateReply(Message):
        chunk_size: int

        def __init__(self, *, chunk_size: int = 0) -> None: ...

    class FinishFirmwareUpdateRequest(Message):
        validate_only: bool

        def __init__(self, *, validate_only: bool = False) -> None: ...

    class FirmwareUpdateDataRequest(Message):
        data: bytes

        def __init__(self, *, data: bytes = b"") -> None: ...

    class ModuleDependency(Message):
        type: int
        index: int
        version: int

        def __init__(self, *, type: int = 0, index: int = 0, version: int = 0) -> None: ...

    class ModuleInfo(Message):
        type: int
        index: int
        version: int
        size: int
        validity: int
        dependencies: RepeatedCompositeFieldContainer[ModuleDependency]

        def __init__(
            self,
            *,
            type: int = 0,
            index: int = 0,
            version: int = 0,
            size: int = 0,
            validity: int = 0,
            dependencies: Iterable[ModuleDependency] | None = None,
        ) -> None: ...

    class GetModuleInfoReply(Message):
        modules: RepeatedCompositeFieldContainer[ModuleInfo]

        def __init__(self, *, modules: Iterable[ModuleInfo] | None = None) -> None: ...

    class GetIccidReply(Message):
        iccid: str
        imei: str

        def __init__(self, *, iccid: str = "", imei: str = "") -> None: ...

else:
    globals().update(_CLASSES)  # GetIccidReply = _CLASSES["GetIccidReply"], ... for every message
