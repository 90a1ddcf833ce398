"""The arguments editor: a form for an approval's arguments, built from their JSON schema.

Edit opens ``public/elements/ArgsEditor.jsx`` (a Chainlit custom element) inside the
question's message. It knows no tool: it draws whatever the request's
``review_configs[0].args_schema`` describes (text, long text, numbers, switches, choices,
lists of values, lists of objects), so a research plan and an MCP tool's arguments get the
same kind of form. Save and Cancel call the ``approval_edit`` action; the engine checks
the edited arguments and asks again with the reason (and where it applies) when they are
wrong. A request without a usable schema is edited as text in the chat box instead.
"""

from __future__ import annotations

from typing import Any, Final

import chainlit as cl

from assistant.approvals import ApprovalRequest
from assistant.events import ApprovalNeeded

ELEMENT: Final = "ArgsEditor"
"""The custom element's name (``public/elements/ArgsEditor.jsx``)."""
ACTION: Final = "approval_edit"
"""The action Save and Cancel call: ``{interrupt_id, args}`` or ``{interrupt_id, cancel}``."""
MAX_DEPTH: Final = 6
_KEPT = (
    "title",
    "description",
    "maxLength",
    "minLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "enum",
    "format",
)
_SCALARS = frozenset({"string", "integer", "number", "boolean"})


def form_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """``schema`` in the few shapes the form draws, or None if it describes no object.

    References are resolved, optional values (``anyOf`` with null) become their type, and
    anything the form cannot draw field by field is edited as JSON text.
    """
    if not isinstance(schema, dict):
        return None
    shaped = _shape(schema, schema.get("$defs") or schema.get("definitions") or {}, 0)
    return shaped if shaped.get("type") == "object" and shaped.get("properties") else None


def _shape(node: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return {"type": "json"}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name)
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}} if target else None
        return _shape(merged, defs, depth + 1) if merged else {"type": "json"}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list):
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(real) != 1:
                return {"type": "json", **_kept(node)}
            return {**_shape(real[0], defs, depth + 1), **_kept(node)}
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return {**_shape(all_of[0], defs, depth + 1), **_kept(node)}
    kind = node.get("type")
    if kind is None and isinstance(node.get("properties"), dict):
        kind = "object"
    if kind is None and "enum" in node:
        kind = "string"
    if kind == "object":
        properties = node.get("properties")
        if not isinstance(properties, dict) or not properties:
            return {"type": "json", **_kept(node)}
        required = [r for r in node.get("required", []) if r in properties]
        return {
            "type": "object",
            **_kept(node),
            "properties": {
                str(key): _shape(child, defs, depth + 1) for key, child in properties.items()
            },
            "required": required,
        }
    if kind == "array":
        items = _shape(node.get("items", {"type": "string"}), defs, depth + 1)
        if items["type"] not in _SCALARS and items["type"] != "object":
            return {"type": "json", **_kept(node)}
        return {"type": "array", **_kept(node), "items": items}
    if kind in _SCALARS:
        return {"type": kind, **_kept(node)}
    return {"type": "json", **_kept(node)}


def _kept(node: dict[str, Any]) -> dict[str, Any]:
    return {key: node[key] for key in _KEPT if key in node}


def editable(request: ApprovalRequest) -> bool:
    """Whether the form can edit ``request``'s arguments (else: text in the chat box)."""
    return "edit" in request.allowed and form_schema(_schema(request)) is not None


def element(approval: ApprovalNeeded, draft: dict[str, Any] | None = None) -> cl.CustomElement:
    """The form for ``approval``, filled with ``draft`` (the person's last try) or its args."""
    request = approval.request
    return cl.CustomElement(
        name=ELEMENT,
        display="inline",
        props={
            "interruptId": approval.interrupt_id,
            "action": ACTION,
            "schema": form_schema(_schema(request)),
            "args": draft if draft is not None else request.action.args,
            "error": request.error_reason if request.error else None,
            "errorAt": request.error_at,
        },
    )


def parse(action: cl.Action) -> tuple[str, dict[str, Any] | None]:
    """``(interrupt_id, args)`` from Save, ``(interrupt_id, None)`` from Cancel.

    Sent by the browser: checked here, and the engine checks the arguments again.
    """
    payload: dict[str, Any] = action.payload if isinstance(action.payload, dict) else {}
    interrupt_id = payload.get("interrupt_id")
    if not isinstance(interrupt_id, str):
        raise ValueError("not an editor's action")
    if payload.get("cancel"):
        return interrupt_id, None
    args = payload.get("args")
    if not isinstance(args, dict):
        raise ValueError("the edited arguments must be an object")
    return interrupt_id, args


def _schema(request: ApprovalRequest) -> dict[str, Any] | None:
    return request.review_configs[0].args_schema
