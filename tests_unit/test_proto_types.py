"""The static view of rig/proto/control.py (its `TYPE_CHECKING` classes, what mypy checks callers
against) says what the schema the messages are built from says, and every message class is a
module attribute at run time."""

from __future__ import annotations

import ast
import inspect

from google.protobuf.message import Message

from rig.proto import control as pb

SCALARS = {"string": "str", "bytes": "bytes", "bool": "bool", "uint32": "int", "int32": "int", "fixed32": "int"}


def expected_annotation(kind: str, repeated: bool) -> str:
    if kind in SCALARS or kind in pb._ENUMS:  # enums are ints on the wire and in the view
        inner = SCALARS.get(kind, "int")
        return f"RepeatedScalarFieldContainer[{inner}]" if repeated else inner
    return f"RepeatedCompositeFieldContainer[{kind}]" if repeated else kind


def static_view() -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    """Class name -> ([(field, annotation)], [__init__ keyword names]) of the TYPE_CHECKING block."""
    tree = ast.parse(inspect.getsource(pb))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    view = {}
    for cls in (node for node in block.body if isinstance(node, ast.ClassDef)):
        assert [ast.unparse(b) for b in cls.bases] == ["Message"], cls.name
        fields = [
            (node.target.id, ast.unparse(node.annotation))
            for node in cls.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        ]
        init = next(node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == "__init__")
        assert [a.arg for a in init.args.args] == ["self"], f"{cls.name}.__init__ takes keywords only"
        view[cls.name] = (fields, [a.arg for a in init.args.kwonlyargs])
    return view


def test_static_view_matches_the_schema() -> None:
    view = static_view()
    assert list(view) == list(pb._MESSAGES)
    for name, schema in pb._MESSAGES.items():
        fields, keywords = view[name]
        assert fields == [(f, expected_annotation(kind, rep)) for f, _, kind, rep in schema], name
        assert keywords == [f for f, _, _, _ in schema], name


def test_every_message_class_is_a_module_attribute() -> None:
    for name in pb._MESSAGES:
        cls = getattr(pb, name)
        assert issubclass(cls, Message) and cls.DESCRIPTOR.full_name == f"{pb.PACKAGE}.{name}"
        assert cls is pb.message_class(name)
    assert pb.GetIccidReply(iccid="8901", imei="35").SerializeToString() == pb.encode(
        "GetIccidReply", iccid="8901", imei="35"
    )
