"""aiogram's Bot API models built when first used instead of all at import (issue 16: `otklik run` idle ≤ 200 MiB).

aiogram declares its types with pydantic's `defer_build`, but aiogram/types/__init__.py then calls
`model_rebuild(_types_namespace=…)` on every one of them (~400) to resolve their forward references, and that
builds every validator and serializer: ~145 MiB resident before the bot does anything, most of it for types a
bot never receives. `defer_aiogram_schemas()`, called before aiogram is first imported, lets those calls only
note the namespace they pass, and puts its names into aiogram's type and method modules, where pydantic looks
them up when it builds a model on first use (the `defer_build` path: the first validation, dump or schema of
the model, or of one that holds it). What is validated and how is unchanged (tests/test_aiogram_schemas.py);
only when a model is built differs: the first getUpdates builds `Response[list[Update]]` (some 70 ms, once),
and a model the bot never meets is never built. Models are built on the event loop's thread, where aiogram runs.
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

import pydantic
from pydantic import BaseModel

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# The deferral relies on how pydantic resolves a nested model's forward references (in the globals of the
# model's own module); checked with 2.13 (tests/test_aiogram_schemas.py), an older one keeps aiogram's own build.
PYDANTIC_CHECKED = (2, 13)


def defer_aiogram_schemas() -> bool:
    """Import aiogram with its models' building deferred; False (and nothing changed) when aiogram was imported
    already or it no longer rebuilds its types this way (then they are built as aiogram does)."""
    if "aiogram" in sys.modules:
        return False  # too late: its models are built already
    if _version(pydantic.VERSION) < PYDANTIC_CHECKED:
        return False  # not checked with an older pydantic: aiogram builds its models as it does
    original = BaseModel.__dict__["model_rebuild"]  # the classmethod object, put back as it was
    namespace: dict[str, Any] = {}

    def model_rebuild(
        cls: type[BaseModel], *, force: bool = False, raise_errors: bool = True, _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:  # fmt: skip
        if (
            _types_namespace is not None
            and not force
            and cls.model_config.get("defer_build")
            and cls.__module__.startswith("aiogram.")
        ):
            namespace.update(_types_namespace)
            return None  # not built: defer_build builds it on first use, in the namespace kept here
        # Anything else is pydantic's own call; one frame deeper here for the parent namespace it looks up.
        depth = _parent_namespace_depth + 1 if _parent_namespace_depth > 0 else 0
        rebuilt: bool | None = original.__func__(
            cls, force=force, raise_errors=raise_errors, _parent_namespace_depth=depth,
            _types_namespace=_types_namespace,
        )  # fmt: skip
        return rebuilt

    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[method-assign,assignment]
    try:
        import aiogram  # noqa: F401  (aiogram.types and aiogram.methods with it)
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    if not namespace:
        return False
    # The names aiogram's modules import under TYPE_CHECKING only ("Message" in aiogram/types/update.py, …) go
    # into those modules' globals: pydantic resolves a nested model's references in its own module, so every
    # model that holds an aiogram type resolves them, whoever builds it first (Response[list[Update]] in the
    # session, a TypeAdapter of ours, a CallbackData). Only the names that the annotations of a module's models
    # use, their bases' included (pydantic evaluates inherited fields in the subclass's module), and that the
    # module does not bind: all ~400 in each of ~600 modules would cost ~8 MiB of dictionaries.
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(("aiogram.types.", "aiogram.methods.")):
            continue
        names = module.__dict__
        for model in [v for v in names.values() if isinstance(v, type) and v.__module__ == module_name]:
            for base in model.__mro__:
                for annotation in inspect.get_annotations(base).values():
                    text = annotation if isinstance(annotation, str) else repr(annotation)
                    for word in _IDENTIFIER.findall(text):
                        if word not in names and word in namespace:
                            names[word] = namespace[word]
    if not _reads_updates():
        _build_as_aiogram_does(namespace)
        return False
    return True


def _reads_updates() -> bool:
    """What the bot builds first (the answer of getUpdates, with Update and Message in it) resolves; if it
    did not, nothing would work, so aiogram's own build is made instead."""
    from aiogram.methods import GetUpdates
    from aiogram.methods.base import Response

    answer = Response[GetUpdates.__returning__]
    try:
        answer.model_validate({"ok": True, "result": []})
    except Exception:
        return False
    return bool(answer.__pydantic_complete__)


def _build_as_aiogram_does(namespace: dict[str, Any]) -> None:
    """The loop of aiogram/types/__init__.py, run now, and the methods left unbuilt built with it."""
    import aiogram.methods
    import aiogram.types

    for module in (aiogram.types, aiogram.methods):
        for name in module.__all__:
            entity = getattr(module, name)
            unbuilt = (
                isinstance(entity, type)
                and issubclass(entity, BaseModel)
                and not entity.__pydantic_complete__
            )
            if unbuilt:
                entity.model_rebuild(_types_namespace=namespace)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])
