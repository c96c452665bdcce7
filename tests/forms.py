"""Submit a form exactly as a browser would submit the page that rendered it.

A test that posts a hand-made dict checks what the test author thought the form sends; a browser
sends every field the page rendered: blank text fields blank, the selected option of each select
(the first when none is marked), checked checkboxes and radios only, hidden fields (the CSRF
token among them), and the name and value of the submit button pressed. `Form.submit` does the
same with the Flask test client, filling in only the fields the test names, which must be fields
the page shows (a user cannot type into a field that is not there, nor choose an option a select
does not offer).

Parsed with the standard library's html.parser: enough for the server-rendered forms of this app
(no script builds a form's fields).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

TEXT_LIKE = {"text", "search", "email", "url", "tel", "password", "number", "date", "datetime-local", "time",
             "month", "week", "color", "range", "hidden"}
BUTTONS = {"submit", "image"}


@dataclass
class Field:
    name: str
    kind: str  # an input type, "select", "select-multiple" or "textarea"
    value: str = ""  # the rendered default (a checkbox's or radio's value when ticked)
    checked: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)  # (value, selected) for selects
    disabled: bool = False


@dataclass
class Form:
    action: str  # as rendered (may be relative or empty)
    method: str
    enctype: str
    attrs: dict[str, str]
    fields: list[Field] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # named submit buttons (name, value)
    page_url: str = "/"

    @property
    def url(self) -> str:
        """The path the form posts to, resolved against the page's URL as a browser does."""
        target = urlsplit(urljoin(f"http://localhost{self.page_url}", self.action or self.page_url))
        return target.path + (f"?{target.query}" if target.query else "")

    def names(self) -> set[str]:
        return {f.name for f in self.fields if not f.disabled}

    def data(self, fill: dict[str, Any] | None = None, button: str | None = None) -> list[tuple[str, Any]]:
        """The (name, value) pairs a browser sends, with `fill` typed in or chosen by the user:
        a string for a text field, textarea or select (one of its options), True/False to tick
        or untick a checkbox (a list of values for checkboxes of one name), a radio's value to
        choose it, a list for a multiple select, and (bytes, filename) for a file input.
        `button`: the name of the submit button pressed (default: the first; a browser sends the
        one clicked)."""
        fill = dict(fill or {})
        unknown = set(fill) - self.names()
        assert not unknown, f"the form has no fields {sorted(unknown)}; it shows {sorted(self.names())}"
        pairs: list[tuple[str, Any]] = []
        for f in self.fields:
            if f.disabled:
                continue
            given = fill.get(f.name)
            if f.kind == "checkbox":
                # several checkboxes of one name (a role's permissions): a list ticks those whose values it holds
                ticked = f.checked if f.name not in fill else (given is True or given == f.value or (
                    isinstance(given, list) and f.value in given))
                if ticked:
                    pairs.append((f.name, f.value))
            elif f.kind == "radio":
                chosen = f.checked if f.name not in fill else given == f.value
                if chosen:
                    pairs.append((f.name, f.value))
            elif f.kind == "select":
                values = [v for v, _ in f.options]
                if f.name in fill:
                    assert given in values, f"{f.name}: {given!r} is not one of the options {values}"
                    pairs.append((f.name, given))
                elif f.options:
                    selected = [v for v, s in f.options if s]
                    pairs.append((f.name, selected[-1] if selected else values[0]))
            elif f.kind == "select-multiple":
                values = [v for v, _ in f.options]
                chosen = list(given) if f.name in fill else [v for v, s in f.options if s]
                assert set(chosen) <= set(values), f"{f.name}: {chosen} are not all options of {values}"
                pairs.extend((f.name, v) for v in chosen)
            elif f.kind == "file":
                content, filename = given if f.name in fill else (b"", "")
                pairs.append((f.name, (io.BytesIO(content), filename)))
            elif f.kind == "hidden" and isinstance(given, list):
                pairs.append((f.name, f.value))  # a checkbox group's hidden companion: no one types into it
            else:
                pairs.append((f.name, str(given) if f.name in fill else f.value))
        if self.buttons:
            names = [n for n, _ in self.buttons]
            assert button is None or button in names, f"no submit button {button!r}; there are {names}"
            pressed = self.buttons[names.index(button) if button else 0]
            pairs.append(pressed)
        return pairs

    def submit(self, client: Any, fill: dict[str, Any] | None = None, *, button: str | None = None,
               **kw: Any) -> Any:
        """Post the form with the Flask test client `client` (a FlaskClient, or tests.conftest's
        WebClient, whose raw client is used so that nothing is added to what the page sent)."""
        raw = getattr(client, "client", client)
        pairs = self.data(fill, button)
        data: dict[str, Any] = {}
        for name, value in pairs:  # werkzeug's test client takes a list for a repeated name
            data.setdefault(name, []).append(value)
        content_type = "multipart/form-data" if self.enctype == "multipart/form-data" else None
        kw.setdefault("buffered", True)
        if self.method == "get":
            return raw.get(self.url, query_string=data, **kw)
        return raw.post(self.url, data=data, content_type=content_type, **kw)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._option: list[Any] | None = None  # [value or None, selected, text parts]
        self._textarea: Field | None = None
        self._disabled_fieldsets = 0

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: (v if v is not None else "") for k, v in attrs_list}
        if tag == "form":
            self._form = Form(action=attrs.get("action", ""), method=attrs.get("method", "get").lower(),
                              enctype=attrs.get("enctype", "application/x-www-form-urlencoded").lower(),
                              attrs=attrs)
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        disabled = "disabled" in attrs or self._disabled_fieldsets > 0
        if tag == "fieldset" and "disabled" in attrs:
            self._disabled_fieldsets += 1
        elif tag == "input":
            kind = attrs.get("type", "text").lower()
            name = attrs.get("name")
            if kind in BUTTONS:
                if name and not disabled:
                    form.buttons.append((name, attrs.get("value", "")))
            elif kind in {"reset", "button"} or not name:
                return
            elif kind in {"checkbox", "radio"}:
                form.fields.append(Field(name, kind, attrs.get("value", "on"), "checked" in attrs, disabled=disabled))
            elif kind == "file":
                form.fields.append(Field(name, "file", disabled=disabled))
            else:
                form.fields.append(Field(name, kind if kind in TEXT_LIKE else "text", attrs.get("value", ""),
                                         disabled=disabled))
        elif tag == "button":
            if attrs.get("type", "submit").lower() == "submit" and attrs.get("name") and not disabled:
                form.buttons.append((attrs["name"], attrs.get("value", "")))
        elif tag == "select" and attrs.get("name"):
            self._select = Field(attrs["name"], "select-multiple" if "multiple" in attrs else "select",
                                 disabled=disabled)
            form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._finish_option()
            self._option = [attrs.get("value"), "selected" in attrs and "disabled" not in attrs, []]
        elif tag == "textarea" and attrs.get("name"):
            self._textarea = Field(attrs["name"], "textarea", disabled=disabled)
            form.fields.append(self._textarea)

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option[2].append(data)
        elif self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "fieldset" and self._disabled_fieldsets:
            self._disabled_fieldsets -= 1
        elif tag == "option":
            self._finish_option()
        elif tag == "select":
            self._finish_option()
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops the one newline that may follow <textarea>.
            if self._textarea.value.startswith("\n"):
                self._textarea.value = self._textarea.value[1:]
            self._textarea = None

    def _finish_option(self) -> None:
        if self._option is not None and self._select is not None:
            value, selected, text = self._option
            self._select.options.append((value if value is not None else " ".join("".join(text).split()), selected))
        self._option = None


def forms_of(html: str, page_url: str = "/") -> list[Form]:
    """Every <form> of a page, with its fields as rendered."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    for form in parser.forms:
        form.page_url = page_url
    return parser.forms


def form_on(client: Any, page_url: str, *, testid: str | None = None, action: str | None = None,
            has: str | None = None, index: int = 0) -> Form:
    """Load `page_url` with `client` and return one of its POST (or GET) forms: the one with
    data-testid `testid`, or posting to a URL containing `action`, or having a field named `has`
    (the `index`-th of those that match)."""
    response = client.get(page_url)
    assert response.status_code == 200, (page_url, response.status_code)
    found = [f for f in forms_of(response.get_data(as_text=True), page_url)
             if (testid is None or f.attrs.get("data-testid") == testid)
             and (action is None or action in f.url)
             and (has is None or has in f.names())]
    assert len(found) > index, f"no such form on {page_url} (testid={testid}, action={action}, has={has})"
    return found[index]
