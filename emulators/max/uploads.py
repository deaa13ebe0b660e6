"""The MAX emulator's files: ``POST /uploads`` and the upload URL it names, tokens, ``attachment.not.ready``.

The platform's two steps (dev.max.ru, «Загрузка файлов»): ``POST /uploads?type=image|file|video|audio`` answers
``{"url"}`` (and, for video and audio, the ``token`` already); the client POSTs the bytes to that URL as a
multipart field: ``data`` for an image or a file, ``file`` for video and audio, with a content type of the kind
(``image/…``, ``video/…``, ``audio/…``; a file any), else 415 (aiogram-max's notes from the live API [?]). The
answer names the token: ``{"photos": {key: {"token"}}}`` for an image, ``{"token", "fileId"}`` for a file, and
``<retval>1</retval>`` (not JSON) for video and audio. One file per URL. A message then names
the file by ``attachments: [{"type", "payload": {"token"}}]``. Right after an upload the platform may still be
processing the file and answers such a message ``400 attachment.not.ready``; here the first ``not_ready_sends``
messages naming a new upload get that answer, so the client's retry is exercised.

A file a user sends arrives in the update with ``payload.url``, which this emulator serves (``GET
/files/{key}``) like the platform's file storage.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass

from emulators.max.records import JsonDict, MaxApiError, MaxFile

FILE_TYPES = frozenset({"image", "file", "video", "audio"})
UPLOAD_FIELDS = {"image": "data", "file": "data", "video": "file", "audio": "file"}
DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes a file; the platform's own cap is far higher [?]
NOT_READY_CODE = "attachment.not.ready"  # the code of the platform's answer [?]: what clients match on


@dataclass
class _Slot:
    type: str
    token: str | None  # video and audio: issued with the URL
    used: bool = False


class UploadStore:
    """Upload slots, uploaded and user-sent files, and how many more sends each new upload refuses."""

    def __init__(self, *, limit: int = DEFAULT_UPLOAD_LIMIT, not_ready_sends: int = 1) -> None:
        if limit < 1 or not_ready_sends < 0:
            raise ValueError("upload limit must be positive and not_ready_sends not negative")
        self.limit = limit
        self.not_ready_sends = not_ready_sends
        self.files: dict[str, MaxFile] = {}  # token → file
        self.not_ready_answers = 0  # how many sends were answered attachment.not.ready
        self._slots: dict[str, _Slot] = {}
        self._by_key: dict[str, MaxFile] = {}
        self._not_ready: dict[str, int] = {}  # token → refusals still to give
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------------------------ the bot's side

    def open_slot(self, kind: str) -> tuple[str, str | None]:
        """``POST /uploads?type=``: a one-file slot id and, for video and audio, its token."""
        if kind not in FILE_TYPES:
            raise MaxApiError(400, "proto.payload", f"type: unknown value {kind!r}")
        slot_id = secrets.token_urlsafe(12)
        token = self._token() if kind in ("video", "audio") else None
        self._slots[slot_id] = _Slot(kind, token)
        return slot_id, token

    def field_of(self, slot_id: str) -> str:
        """The multipart field a slot's URL reads the file from."""
        slot = self._slots.get(slot_id)
        if slot is None:
            raise MaxApiError(404, "not.found", "Upload URL not found")
        return UPLOAD_FIELDS[slot.type]

    def receive(self, slot_id: str, name: str, content_type: str, data: bytes) -> JsonDict | str:
        """The bytes POSTed to a slot's URL; the answer naming the token (see the module's docstring)."""
        slot = self._slots.get(slot_id)
        if slot is None:
            raise MaxApiError(404, "not.found", "Upload URL not found")
        if slot.used:
            raise MaxApiError(400, "upload.used", "Only one file can be uploaded by this URL")
        if slot.type != "file" and not content_type.startswith(f"{slot.type}/"):
            raise MaxApiError(415, "unsupported.media.type", f"A {slot.type} upload takes {slot.type}/*")
        if len(data) > self.limit:
            raise MaxApiError(413, "file.too.large", f"File is larger than {self.limit} bytes")
        if not data:
            raise MaxApiError(400, "proto.payload", "The file is empty")
        slot.used = True
        file = self._keep(slot.type, name, data, slot.token)
        self._not_ready[file.token] = self.not_ready_sends
        if slot.type == "image":
            digest = hashlib.sha256(data).hexdigest()[:32]
            return {"photos": {digest: {"token": file.token}}}
        if slot.type == "file":
            return {"token": file.token, "fileId": self._number(file)}
        return "<retval>1</retval>"

    def resolve(self, attachments: list[JsonDict], base_url: str) -> tuple[list[JsonDict], list[MaxFile]]:
        """A message's attachments with each file's token replaced by the attachment MAX shows (url, name,
        size) and the files themselves. An unknown token: 400; an upload still processing: attachment.not.ready.
        Checked before anything is sent, so a refused message changes nothing."""
        shown: list[JsonDict] = []
        files: list[MaxFile] = []
        for attachment in attachments:
            if attachment.get("type") not in FILE_TYPES:
                shown.append(attachment)
                continue
            payload = attachment.get("payload")
            token = payload.get("token") if isinstance(payload, dict) else None
            file = self.files.get(token) if isinstance(token, str) else None
            if file is None:
                raise MaxApiError(400, "proto.payload", "attachment.payload.token: unknown token")
            if file.type != attachment["type"]:
                raise MaxApiError(
                    400, "proto.payload", f"the token is of a {file.type}, not a {attachment['type']}"
                )
            files.append(file)
            shown.append(self.attachment_json(file, base_url))
        waiting = [f.token for f in files if self._not_ready.get(f.token, 0) > 0]
        if waiting:
            for token in waiting:
                self._not_ready[token] -= 1
            self.not_ready_answers += 1
            raise MaxApiError(400, NOT_READY_CODE, "Key: errors.process.attachment.file.not.processed")
        return shown, files

    # ------------------------------------------------------------------------------------ the users' side

    def add(self, kind: str, name: str, data: bytes) -> MaxFile:
        """A file a user sends: kept and served at once (no processing to wait for)."""
        if kind not in FILE_TYPES:
            raise ValueError(f"unknown attachment type {kind!r}")
        return self._keep(kind, name, data, None)

    def download(self, key: str) -> MaxFile | None:
        return self._by_key.get(key)

    def attachment_json(self, file: MaxFile, base_url: str) -> JsonDict:
        """The attachment as a message shows it (the shapes of dev.max.ru's Attachment objects)."""
        url = f"{base_url}/files/{file.key}"
        if file.type == "image":
            return {
                "type": "image",
                "payload": {"photo_id": self._number(file), "token": file.token, "url": url},
            }
        data: JsonDict = {"type": file.type, "payload": {"token": file.token, "url": url}}
        if file.type == "file":
            data["payload"]["fileId"] = self._number(file)
            data.update(filename=file.name, size=file.size)
        return data

    # ----------------------------------------------------------------------------------------- helpers

    def _keep(self, kind: str, name: str, data: bytes, token: str | None) -> MaxFile:
        file = MaxFile(kind, name or "file", data, token or self._token(), secrets.token_urlsafe(16))
        self.files[file.token] = file
        self._by_key[file.key] = file
        return file

    def _token(self) -> str:
        return f"tok.{next(self._ids)}.{secrets.token_urlsafe(18)}"

    @staticmethod
    def _number(file: MaxFile) -> int:
        return int(file.token.split(".")[1])
