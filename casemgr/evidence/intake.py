"""Reading an evidence upload (multipart/form-data) as a stream, without Flask.

Werkzeug's own form parsing spools file parts to a temporary file (plaintext on disk) and is
triggered by anything that touches `request.form`; the evidence endpoints never touch it. They
hand the request body stream to `MultipartUpload`, which drives werkzeug's sans-IO
`MultipartDecoder` chunk by chunk: small text fields are kept (bounded), the one `file` part is
yielded as it arrives so the caller encrypts it on the fly. Memory stays about two read chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from casemgr.errors import BadRequest, Invalid

READ_SIZE = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
FILE_FIELD = "file"


class MultipartUpload:
    """One multipart body with a single file part named `file` and optional small text fields.

    Iterate `chunks()` once to the end; afterwards `fields` holds the text fields (those after
    the file too) and `filename` the client's name for the file. Raises BadRequest for a body
    that is not multipart or ends early, Invalid naming the field for a missing file, a second
    file, or a field that is too long.
    """

    def __init__(self, read: Callable[[int], bytes], boundary: str | bytes, *, read_size: int = READ_SIZE) -> None:
        if not boundary:
            raise BadRequest("the request must be multipart/form-data with a boundary")
        self._read = read
        self._read_size = read_size
        self._decoder = MultipartDecoder(boundary.encode("latin-1") if isinstance(boundary, str) else boundary,
                                         max_form_memory_size=None)
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.complete = False
        self._started = False

    def chunks(self) -> Iterator[bytes]:
        if self._started:
            raise RuntimeError("an upload can be read once")
        self._started = True
        current: Field | File | None = None
        buffer = bytearray()
        seen_file = False
        ended = False
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError:
                raise BadRequest("the request body is not valid multipart/form-data") from None
            if isinstance(event, NeedData):
                if ended:
                    raise BadRequest("the upload ended before it was complete")
                data = self._read(self._read_size)
                if not data:
                    ended = True
                self._decoder.receive_data(data or None)
                continue
            if isinstance(event, Epilogue):
                break
            if isinstance(event, File):
                if event.name != FILE_FIELD or seen_file:
                    raise Invalid(f"{event.name}: send exactly one file, in the field named '{FILE_FIELD}'",
                                  field=event.name)
                seen_file = True
                current = event
                self.filename = event.filename
            elif isinstance(event, Field):
                if len(self.fields) >= MAX_FIELDS:
                    raise Invalid("too many form fields", field=event.name)
                current, buffer = event, bytearray()
            elif isinstance(event, Data):
                if isinstance(current, File):
                    if event.data:
                        yield event.data
                elif current is not None:
                    buffer += event.data
                    if len(buffer) > MAX_FIELD_BYTES:
                        raise Invalid(f"{current.name}: longer than {MAX_FIELD_BYTES} bytes", field=current.name)
                    if not event.more_data:
                        try:
                            self.fields[current.name] = buffer.decode("utf-8")
                        except UnicodeDecodeError:
                            raise Invalid(f"{current.name}: not valid UTF-8 text", field=current.name) from None
        if not seen_file:
            raise Invalid(f"{FILE_FIELD}: a file is required (multipart field '{FILE_FIELD}')", field=FILE_FIELD)
        self.complete = True
