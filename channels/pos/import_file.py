"""A ПОС cabinet's export file (XLSX or CSV) read into rows to register (issue 12, `otklik pos import`).

Columns are found by a mapping (field → the column's header, from `[pos.import_columns]` or a `--mapping`
file) and, for the fields it does not name, by a guess from the header row («Номер», «Категория», «Дата
поступления», «Текст» …), so shuffled columns are no trouble. A missing required column makes the whole file
unusable (ImportFileError, one line); a bad row is refused on its own, with its row number and the reason.

The file is read a row at a time (openpyxl's read-only mode, csv's reader), and more rows than the limit refuse
the whole file before anything is registered: an export of a whole year is split, not half-imported.
"""

from __future__ import annotations

import codecs
import csv
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from channels.pos.notice import parse_due
from workflow.calendar import WorkingCalendar
from workflow.model import InboundMessage, Procedure, Source
from workflow.pos_categories import classify, fold
from workflow.rules import Rules
from workflow.services.pos_import import ImportItem, Refusal

# The fields a row can carry; number, category, received and text are required.
FIELDS = ("number", "category", "received", "text", "author", "phone", "address", "location", "due")
REQUIRED = ("number", "category", "received", "text")
FIELD_TITLES = {
    "number": "Номер",
    "category": "Категория",
    "received": "Дата поступления",
    "text": "Текст",
    "author": "Автор",
    "phone": "Телефон",
    "address": "Адрес",
    "location": "Место проблемы",
    "due": "Срок ответа",
}
# Header names a ПОС export (or a curator's own table) uses, folded; the first column that matches wins.
GUESSES: Mapping[str, tuple[str, ...]] = {
    "number": ("номер", "№", "№ сообщения", "номер сообщения", "номер обращения", "№ обращения", "номер в пос"),
    "category": ("категория", "категория сообщения", "категория обращения", "тема"),
    "received": (
        "дата поступления", "дата и время поступления", "поступило", "дата создания", "дата регистрации",
        "дата подачи", "дата",
    ),
    "text": ("текст", "текст сообщения", "текст обращения", "содержание", "описание", "суть обращения"),
    "author": ("автор", "заявитель", "фио", "фио заявителя", "автор сообщения"),
    "phone": ("телефон", "контактный телефон", "телефон заявителя", "тел."),
    "address": ("адрес", "адрес заявителя", "адрес автора"),
    "location": ("место проблемы", "адрес проблемы", "место"),
    "due": ("срок ответа", "крайний срок", "срок рассмотрения"),
}  # fmt: skip
NUMBER = re.compile(r"[0-9]{5,20}")  # as the /pos dialogue: ASCII digits only
# Text dates, tried in order; a naive one is the district's local time.
DATE_FORMATS = (
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%d.%m.%Y",
    "%Y-%m-%d",
)
EXCEL_EPOCH = datetime(1899, 12, 30)
EXCEL_SERIALS = (36_526, 73_051)  # 01.01.2000 … 01.01.2100: a bare number outside is not taken for a date
SAMPLE_BYTES = 1 << 20  # what the encoding and the delimiter are told from
HEADER_SEARCH_ROWS = 5  # non-empty rows the header is looked for in
TEXT_LIMIT = 20_000  # characters of a row's text; a longer cell is not a message but a pasted file


class ImportFileError(Exception):
    """The file or the mapping cannot be used at all: one Russian line, nothing registered."""


@dataclass(frozen=True)
class ReadFile:
    items: list[ImportItem | Refusal]
    columns: dict[str, str]  # field → the header it was read from


Cell = object  # str | int | float | datetime | date | time | None, as the readers give them


# --- the mapping ---------------------------------------------------------------------------------------------


def load_mapping(path: Path) -> dict[str, str]:
    """A `--mapping` TOML file: `field = "Заголовок"` pairs, at the top or under `[pos.import_columns]`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportFileError(f"файл соответствия столбцов не читается: {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: не читается как TOML: {exc}") from None
    table: object = data.get("pos", {}).get("import_columns", data) if isinstance(data.get("pos"), dict) else data
    if not isinstance(table, dict):
        raise ImportFileError(f"{path}: ожидается таблица «поле = \"заголовок столбца\"»")
    return check_mapping(table, str(path))


def check_mapping(table: Mapping[str, object], where: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for key, value in table.items():
        if key not in FIELDS:
            raise ImportFileError(f"{where}: неизвестное поле {key!r} (известные: {', '.join(FIELDS)})")
        if not isinstance(value, str) or not value.strip():
            raise ImportFileError(f"{where}: {key}: ожидается заголовок столбца строкой в кавычках")
        mapping[key] = value
    return mapping


def find_columns(header: list[str], mapping: Mapping[str, str]) -> dict[str, int]:
    """field → column index: the mapping's header where given, else the first guess the header row has."""
    folded = [fold(h).rstrip(":*").strip() for h in header]
    columns: dict[str, int] = {}
    for name, title in mapping.items():
        wanted = fold(title)
        if wanted not in folded:
            raise ImportFileError(f"в файле нет столбца «{title}» (поле {name} в соответствии столбцов)")
        columns[name] = folded.index(wanted)
    taken = set(columns.values())
    for name in FIELDS:
        if name in columns:
            continue
        for guess in GUESSES[name]:
            index = next((i for i, h in enumerate(folded) if h == guess and i not in taken), None)
            if index is not None:
                columns[name] = index
                taken.add(index)
                break
    missing = [FIELD_TITLES[name] for name in REQUIRED if name not in columns]
    if missing:
        names = ", ".join(f"«{m}»" for m in missing)
        raise ImportFileError(
            f"в файле нет столбцов {names}: укажите их заголовки в [pos.import_columns] или в --mapping"
        )
    return columns


# --- the readers ---------------------------------------------------------------------------------------------


def _rows_xlsx(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    # Read-only mode streams the sheet's XML row by row instead of building the whole workbook in memory.
    import openpyxl  # only the import command needs it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a zip that is not a workbook, a broken one: openpyxl raises many kinds
        raise ImportFileError(f"{path}: не читается как файл XLSX ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise ImportFileError(f"{path}: в книге нет листов")
        for index, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield index, list(row)
    finally:
        book.close()


def _encoding(sample: bytes) -> str:
    """UTF-8 with or without its BOM, else cp1251 (what Excel in a Russian Windows saves as «CSV»)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) < SAMPLE_BYTES)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8"


def _delimiter(first_line: str) -> str:
    """«;» (Russian Excel), «,» or a tab: whichever the header row has most of."""
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def _rows_csv(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    try:
        with path.open("rb") as raw:
            sample = raw.read(SAMPLE_BYTES)
    except OSError as exc:
        raise ImportFileError(f"файл не читается: {path}: {exc.strerror}") from None
    encoding = _encoding(sample)
    first = sample.decode(encoding, errors="replace").lstrip("\ufeff").splitlines()[:1]
    line = first[0] if first else ""
    # Excel's own hint, «sep=;» on the first line, names the delimiter and is no row of the table.
    hinted = line.lower().startswith("sep=") and len(line.strip()) == 5
    delimiter = line.strip()[4] if hinted else _delimiter(line)
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            for row in reader:
                if hinted and reader.line_num == 1:
                    continue
                yield reader.line_num, list(row)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: кодировка не UTF-8 и не cp1251 дальше первого мегабайта") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: не читается как CSV: {exc}") from None


def table_rows(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    if not path.is_file():
        raise ImportFileError(f"файл не найден: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _rows_xlsx(path)
    if suffix in (".csv", ".txt"):
        return _rows_csv(path)
    raise ImportFileError(f"{path}: ожидается файл .xlsx или .csv")


# --- cells ---------------------------------------------------------------------------------------------------


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a number Excel keeps as 12345678.0
    return str(cell).strip()


def read_number(cell: Cell) -> str | None:
    raw = _text(cell).lstrip("№").strip()
    return raw if NUMBER.fullmatch(raw) else None


def read_instant(cell: Cell, calendar: WorkingCalendar) -> datetime | None:
    """An Excel date cell or a text date in one of DATE_FORMATS (or ISO with an offset); naive is local."""
    found: datetime | None
    if isinstance(cell, datetime):
        found = cell
    elif isinstance(cell, date):
        found = datetime.combine(cell, time())
    elif isinstance(cell, int | float) and not isinstance(cell, bool) and EXCEL_SERIALS[0] < cell < EXCEL_SERIALS[1]:
        # A date cell that lost its date format: Excel's serial day number (days since 30.12.1899).
        found = EXCEL_EPOCH + timedelta(seconds=round(float(cell) * 86_400))
    else:
        found = _parse_text_instant(" ".join(_text(cell).split()))
    if found is None:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=calendar.tz)


def _parse_text_instant(raw: str) -> datetime | None:
    if not raw:
        return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(raw) if raw[:4].isdigit() else None
    except ValueError:
        return None


def read_due(cell: Cell) -> date | None:
    """The due date ПОС shows: a date cell or ДД.ММ.ГГГГ / ГГГГ-ММ-ДД text; ValueError when it is not one."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    raw = _text(cell)
    if not raw:
        return None
    found = parse_due(raw) if raw.isascii() else None
    if found is None:
        raise ValueError(raw)
    return found


# --- rows ----------------------------------------------------------------------------------------------------


def _item(
    line: int,
    row: list[Cell],
    columns: Mapping[str, int],
    *,
    table: Mapping[str, str],
    rules: Rules,
    calendar: WorkingCalendar,
) -> ImportItem | Refusal:
    def cell(name: str) -> Cell:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else None

    raw_number = _text(cell("number"))
    number = read_number(raw_number)
    if number is None:
        why = "нет номера ПОС" if not raw_number else f"номер ПОС «{raw_number[:30]}» — не 5–20 цифр"
        return Refusal(line, why)
    text = _text(cell("text"))
    if not text:
        return Refusal(line, f"ПОС № {number}: нет текста сообщения")
    if len(text) > TEXT_LIMIT:
        return Refusal(line, f"ПОС № {number}: текст длиннее {TEXT_LIMIT} знаков")
    raw_received = cell("received")
    received = read_instant(raw_received, calendar)
    if received is None:
        shown = _text(raw_received)[:30]
        why = "нет даты поступления" if not shown else f"дата поступления «{shown}» не распознана"
        return Refusal(line, f"ПОС № {number}: {why} (ДД.ММ.ГГГГ ЧЧ:ММ или ГГГГ-ММ-ДД ЧЧ:ММ:СС)")
    try:
        due = read_due(cell("due"))
    except ValueError:
        return Refusal(line, f"ПОС № {number}: срок ответа «{_text(cell('due'))[:30]}» — не дата")
    name = _text(cell("category")) or None
    found = classify(name, table, rules)
    location = _text(cell("location"))
    if location:
        text = f"{text}\n\nМесто проблемы: {location}"
    who = [_text(cell("author"))]
    if phone := _text(cell("phone")):
        who.append(f"тел. {phone}")
    if address := _text(cell("address")):
        who.append(f"адрес: {address}")
    message = InboundMessage(
        source=Source.POS,
        source_id=number,
        procedure=Procedure.POS,
        text=text,
        received_at=received,
        author=", ".join(part for part in who if part),
        category=found.class_id,
        external_number=number,
        pos_due=due,
    )
    return ImportItem(line, message, name, found.known)


def read_file(
    path: Path,
    mapping: Mapping[str, str],
    *,
    table: Mapping[str, str],
    rules: Rules,
    calendar: WorkingCalendar,
    max_rows: int,
) -> ReadFile:
    """Every data row of the file, read or refused; ImportFileError when the file cannot be used at all."""
    rows = table_rows(path)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    items: list[ImportItem | Refusal] = []
    first_refusal: ImportFileError | None = None
    looked = 0
    for line, row in rows:
        if not any(_text(c) for c in row):
            continue  # blank rows: above the header, between rows, Excel's formatted-but-empty tail
        if header is None:
            # A title line or two above the header («Выгрузка сообщений за ноябрь») is passed over: the header
            # is the first of the first rows whose columns are all found.
            candidate = [_text(c) for c in row]
            try:
                columns = find_columns(candidate, mapping)
            except ImportFileError as exc:
                first_refusal = first_refusal or exc
                looked += 1
                if looked >= HEADER_SEARCH_ROWS:
                    rows_close(rows)
                    raise first_refusal from None
                continue
            header = candidate
            continue
        if len(items) >= max_rows:
            rows_close(rows)
            raise ImportFileError(
                f"{path}: больше {max_rows} строк — разбейте выгрузку по датам или увеличьте "
                "pos.import_max_rows; ничего не зарегистрировано"
            )
        items.append(_item(line, row, columns, table=table, rules=rules, calendar=calendar))
    if header is None:
        raise first_refusal or ImportFileError(f"{path}: файл пуст — нет строки заголовков")
    return ReadFile(items, {name: header[index] for name, index in columns.items()})


def rows_close(rows: Iterator[tuple[int, list[Cell]]]) -> None:
    """Stop a reader early (its workbook or file is closed by its `finally`)."""
    close = getattr(rows, "close", None)
    if close is not None:
        close()
