"""Every text the bot shows to people, in Russian; the rest of the code uses these names only.

Texts that take values are format strings with named fields; HTML ones are marked `_HTML` and expect their
values already escaped.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflow.model import Role

# --- refusals and short callback answers ------------------------------------------------------------------

NOT_REGISTERED = "Вы не зарегистрированы в системе «Отклик». Обратитесь к начальнику управления делами."
# /id (anyone) and a stranger's /start: the ids an administrator puts in config.toml, and whether the bot reads
# the group (bot/startup.py says the same in `otklik check`).
ID_USER = "Ваш id: {user_id}."
ID_STAFF = "В настройках вы: {name} — {roles}."
ID_STRANGER = "Вас нет в настройках: чтобы работать в «Отклике», передайте этот id администратору (раздел [[staff]], telegram_id)."
# Citizens writing to the bot (issue 11, the Telegram channel): the deep link's greeting and the acknowledgement.
CITIZEN_GREETING = (
    "Здравствуйте! Напишите, пожалуйста, ваше обращение одним сообщением в этот чат (можно с фото): мы "
    "зарегистрируем его и ответим здесь же."
)
CITIZEN_ACK = "Ваше обращение зарегистрировано, № {case_id}. Ответ придёт в этот чат."
ID_CHAT = "Этот чат: {chat_id}, «{title}»."
ID_CHAT_KNOWN = "В настройках это чат: {what}."
ID_CHAT_ROLES = "{roles}"
ID_CHAT_UNITS = "подразделения: {units}"
ID_CHAT_UNKNOWN = "Этого чата нет в настройках: чтобы бот работал в нём, укажите {chat_id} в разделе [chats] файла config.toml и перезапустите бота."
ID_READS_ADMIN = "Бот видит все сообщения чата: да (бот — администратор чата)."
ID_READS_OPEN = "Бот видит все сообщения чата: да (режим приватности бота выключен)."
ID_READS_NO = (
    "Бот видит все сообщения чата: нет — только команды и ответы на свои сообщения. Сделайте бота "
    "администратором чата или выключите режим приватности: @BotFather → /setprivacy → Disable, затем удалите "
    "бота из чата и добавьте снова."
)
ID_BOT_ADDED = "«Отклик» добавлен в чат."
ID_BOT_PROMOTED = "«Отклик» теперь администратор чата."
FORBIDDEN = "Недостаточно прав"
UNKNOWN_BUTTON = "Кнопка не распознана"
UNKNOWN_PAGE = "Такой страницы в списке нет: клавиатура устарела. Откройте её заново с карточки"
NOT_OFFERED = "Этой кнопки нет на карточке в этом чате: действие не выполнено"
FAILED = "Не удалось выполнить, попробуйте ещё раз"
DONE = "Готово"
CHOOSE_UNITS = "Выберите подразделения и нажмите «Готово»"
CHOOSE_ORDER = "Нажимайте подразделения в порядке подготовки информации (п.12.1), затем «Готово»"
CHOOSE_RESPONSIBLE = "Выберите ответственного исполнителя"
CANCELLED = "Отменено"
PROMPT_SENT = "Ответьте на сообщение бота"

# --- prompts ------------------------------------------------------------------------------------------------

PROMPT_REASON = "Напишите причину ответом на это сообщение"
PROMPT_REASON_FOR = "Сообщение № {case_id}: {what}.\n" + PROMPT_REASON
PROMPT_LINK_ASK = "Пришлите ссылку на размещённый ответ ответом на это сообщение"
PROMPT_LINK = "Сообщение № {case_id}: {what}.\n" + PROMPT_LINK_ASK + " или нажмите «Без ссылки»."
PROMPT_EXPIRED = (
    "Этот запрос больше не действует (бот перезапускался). Нажмите кнопку на карточке ещё раз и ответьте "
    "на новый запрос."
)
PROMPT_CANCELLED = "Этот запрос отменён командой /cancel: ответ не учтён. Нажмите кнопку на карточке ещё раз."
PROMPT_CANCELLED_DONE = "Отменено: «{what}» по сообщению № {case_id} — ответ на запрос больше не ждётся."
NOTHING_TO_CANCEL = "Нечего отменять."
PROMPT_PLACEHOLDER_REASON = "Причина"
PROMPT_PLACEHOLDER_LINK = "https://…"
REPLY_TEXT_EMPTY = "Напишите текст ответом на сообщение."
REPLY_NOT_EXPECTED = "Ответ на эту карточку сейчас не ожидается: {reason}"
REPLY_NO_ACTION = "действия по ответу недоступны в статусе «{status}»"
REPLY_NOT_VISIBLE = "Сообщение № {case_id} не относится к вашему подразделению — ответ не учтён."
# A plain message in a unit chat with open cases waiting for it: the question under it, one button per case.
WHICH_CASE = "К какому сообщению?"
WHICH_CASE_BUTTON = "№ {case_id} — {text}"
WHICH_APPLIED = "Учтено в сообщении № {case_id}."
WHICH_NOT_AUTHOR = "Выбрать может только автор сообщения"
WHICH_ALREADY = "Уже учтено"
WHICH_GONE = "Исходное сообщение удалено — ответьте на карточку"
WHICH_NOT_OFFERED = "Этого сообщения нет среди предложенных"

# --- confirmations after a use case ---------------------------------------------------------------------------

DONE_BY_ACTION: Mapping[str, str] = {
    "route": "Направление предложено",
    "approve_routing": "Направление согласовано",
    "return": "Возвращено куратору ЦУР",
    "info": "Информация направлена",
    "decline": "Возвращено как не относящееся к компетенции",
    "accept": "Принято в работу",
    "submit": "Проект направлен на согласование",
    "approve": "Согласовано",
    "rework": "Возвращено на доработку",
    "publish": "Отмечено: ответ опубликован",
    "interim": "Отмечено: промежуточный ответ",
    "exclude": "Исключено из обработки",
    # The report goes through the outbox after the commit: it is on its way, not yet read. A chat Telegram
    # refuses is reported to the office head (bot/delivery.py).
    "significant": "Отмечено как общественно значимое; доклад Главе района отправляется",
    "close": "Закрыто",
    "reopen": "Работа по сообщению возобновлена",
    "set_detected": "Время выявления ЦУР записано",
    "screen_keep": "Записано: не исключать — сообщение остаётся в работе",
    "link_repeat": "Отмечено как повторное",
}
UNDONE = "Последнее действие по сообщению № {case_id} отменено. Статус: «{status}»."
REGISTERED = "Зарегистрировано: сообщение № {case_id}"
ALREADY_REGISTERED = "Это сообщение уже зарегистрировано: № {case_id}"

# --- the intake chat: one question under each message (handlers.intake) ----------------------------------------

INTAKE_QUESTION = "Зарегистрировать это сообщение? Укажите, откуда оно, или нажмите «Не регистрировать»."
INTAKE_RECOGNISED = "Распознано: {what}."
INTAKE_RECOGNISED_LINK = "{network} — по ссылке в тексте"
INTAKE_RECOGNISED_CHANNEL = "Telegram — переслано из канала"
INTAKE_RECOGNISED_CURATOR = "от куратора ЦУР"
INTAKE_CARD_DETECTED_REFUSED = "Время выявления в карточке ЦУР не принято: {reason}."
INTAKE_REGISTERED = "Зарегистрировано: сообщение № {case_id} · {source} ({name})"
INTAKE_REGISTERED_AT_ONCE = "Зарегистрировано: сообщение № {case_id} · от куратора ЦУР, выявлено {at}"
INTAKE_NOT_REGISTERED = "Не зарегистрировано ({name})"
INTAKE_ALREADY = "Уже зарегистрировано: сообщение № {case_id}"
INTAKE_DECIDED = "По этому сообщению уже решено. Чтобы зарегистрировать его, перешлите его в чат ещё раз."
INTAKE_ORIGINAL_GONE = "Исходное сообщение удалено — регистрировать нечего."
INTAKE_QUESTION_GONE = "Вопрос устарел: перешлите сообщение в чат приёма ещё раз."
INTAKE_NOTHING = "Сообщение без текста и вложений — регистрировать нечего."
INTAKE_SKIPPED_TOAST = "Не зарегистрировано"
INTAKE_ASK_DETECTED = "Когда ЦУР выявил сообщение? Ответьте на это сообщение временем ЧЧ:ММ или ДД.ММ ЧЧ:ММ."
INTAKE_DETECTED = "Выявлено ЦУР: {at} ({name})"
INTAKE_BAD_DETECTED = (
    "Не понял время. Ответьте временем ЧЧ:ММ или ДД.ММ ЧЧ:ММ, например 09:40 или 01.12 09:40."
)
INTAKE_DETECTED_DONE = "Время выявления ЦУР уже указано: {at}"
# A ЦУР hand-over of an item a channel already took in (issue 12): attached to its case, not a second case.
INTAKE_MERGED = "Присоединено к сообщению № {case_id} (срок пересчитан от ЦУР: выявлено {at})"
INTAKE_MERGED_KEPT = "Присоединено к сообщению № {case_id} (время выявления ЦУР не указано: срок не изменён)"
INTAKE_NOT_CONNECTED = "Сеть «{network}» не подключена к «Отклику»: сообщение зарегистрировано по пересланному тексту."
# Where the message came from, as the question shows the choice made.
INTAKE_SOURCES: Mapping[str, str] = {
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "telegram": "Telegram",
    "curator": "от куратора ЦУР",
    "other": "другой источник",
}

# --- button labels -----------------------------------------------------------------------------------------

BTN_ROUTE = "Направить в подразделение"
BTN_RETURN = "Не наша компетенция — вернуть куратору"
BTN_EXCLUDE_OS = "Не подлежит ответу (п.15)"
BTN_LINK_REPEAT = "Повторное к № {case_id}"
BTN_EXCLUDE_POS = "Не подлежит ответу (п.17)"
BTN_SIGNIFICANT = "Общественно значимое — доложить Главе района"
BTN_APPROVE_ROUTING = "Согласовать направление"
BTN_CHANGE_ROUTING = "Изменить направление"
BTN_SET_ORDER = "Задать очерёдность"
BTN_ORDER_PLACE = "{place}. {name}"
BTN_ORDER_RESET = "Сбросить"
BTN_ROUTE_POS = "Направить исполнителям"
BTN_ACCEPT = "Принять"
BTN_DECLINE = "Не наша компетенция"
BTN_APPROVE = "Согласовать"
BTN_REWORK = "На доработку"
BTN_CLOSE = "Закрыть"
BTN_PUBLISH = "Опубликовано"
BTN_INTERIM = "Промежуточный ответ"
BTN_NO_LINK = "Без ссылки"
BTN_PUBLISH_CONFIRM = "Опубликовать без их информации"
BTN_DONE = "Готово"
BTN_PAGE_MORE = "Ещё ▸"
BTN_PAGE_BACK = "◂ Назад"
BTN_CANCEL = "Отмена"
BTN_SELECTED = "✅ {name}"
BTN_RESPONSIBLE = "Ответственный: {name}"
BTN_INTAKE: Mapping[str, str] = {
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "telegram": "Telegram",
    "curator": "От ЦУР",
    "other": "Другое",
    "skip": "Не регистрировать",
}
BTN_INTAKE_RECOGNISED = "✅ {label}"
BTN_DETECTED_AS_POSTED = "Как в сообщении: {at}"

# --- card -------------------------------------------------------------------------------------------------

CARD_TITLE_HTML = "<b>Сообщение № {case_id}</b> · {procedure}"
PROCEDURE_NAMES: Mapping[str, str] = {"open_sources": "открытые источники", "pos": "ПОС"}
SOURCE_NAMES: Mapping[str, str] = {
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "telegram": "Telegram",
    "max": "MAX",
    "region_curator": "от куратора ЦУР",
    "pos": "ПОС",
    "manual": "вручную",
    "intake": "чат приёма",
}
NETWORK_NAMES: Mapping[str, str] = {
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "telegram": "Telegram",
    "max": "MAX",
    "other": "другой источник",
}
CARD_SOURCE = "Источник: {source}"
CARD_SOURCE_HANDED_OVER = "от куратора ЦУР"
CARD_POS_NUMBER = "№ ПОС {number}"
CARD_AUTHOR = "Автор: {author}"
CARD_LINK = "Ссылка: {link}"
CARD_CATEGORY = "Категория: {category}"
CARD_RECEIVED = "Поступило: {at}"
CARD_DETECTED = "Выявлено ЦУР: {at}"
CARD_RECEIVED_ADMIN = "Поступило в администрацию: {at}"
CARD_CUR_CARD = "Карточка ЦУР № {number}"
CARD_CUR_CURATOR = "Передал: {curator}"
CARD_POS_DUE = "Срок ответа по данным ПОС: {pos}; по Порядку: {rules}"
CARD_REPEAT = "Повторное, предыдущее № {case_id}"
CARD_REPEAT_SUGGESTED = "Возможно, повторное к № {case_id}: тот же автор или почти тот же текст"
CARD_ATTACHMENTS = "Вложений: {count}"
CARD_ATTACHMENT_FAILED = "Вложение не удалось получить: {reason}"
# The source state of a network item (issue 11): the last change the network reported, and when.
CARD_SOURCE_STATE: Mapping[str, str] = {
    "source_edited:comment": "✏️ Автор изменил комментарий ({at}); ниже — новый текст",
    "source_edited:message": "✏️ Автор изменил сообщение ({at}); ниже — новый текст",
    "source_deleted:comment:author": "🗑 Комментарий удалён автором ({at})",
    "source_deleted:comment:moderator": "🗑 Комментарий удалён модератором ({at})",
    "source_deleted:message:author": "🗑 Сообщение удалено автором ({at})",
    "source_deleted:message:moderator": "🗑 Сообщение удалено модератором ({at})",
    "source_restored:comment": "♻️ Комментарий восстановлен ({at})",
    "source_restored:message": "♻️ Сообщение восстановлено ({at})",
}
CARD_STATUS_HTML = "<b>Статус:</b> {status}"
CARD_SIGNIFICANT = "Общественно значимое: доклад Главе района (п.17)"
CARD_UNITS_HTML = "<b>Подразделения:</b> {units}"
CARD_PROPOSED_HTML = "<b>Предложено направить:</b> {units}"
CARD_RESPONSIBLE_MARK = " (ответственный)"
CARD_ACCEPTED_MARK = " ✓"
CARD_TERMS_HTML = "<b>Сроки</b> (на {at}):"
CARD_TERM = "• {title} — {owner}, до {due}; {left}"
CARD_LEFT = "осталось {left} рабочего времени"
CARD_LEFT_DAYS = "осталось {left}"
CARD_OVERDUE = "просрочено на {late}"
CARD_DUE_NOW = "срок истёк"
CARD_DUE_AT_START = "срок наступает в начале рабочего дня"
CARD_DRAFT_HTML = "<b>Проект ответа (версия {version}):</b>"
CARD_REWORK_HTML = "<b>Причина доработки:</b> {reason}"
CARD_LINK_PUBLISHED = "Ответ: {link}"
CARD_HISTORY_HTML = "<b>История:</b>"
# «01.12.2026 09:40 · Мария Иванова, уполномоченное лицо управления делами: предложено направить в ЖКХ».
# Past forms that agree with their own subject (проект, ответ, информация) or stand impersonal (направлено,
# возвращено): right whoever acted, since a name does not tell a person's gender reliably.
CARD_HISTORY_LINE = "{at} · {who}: {what}"
HISTORY_WHO = "{name}, {role}"
HISTORY_PHRASES: Mapping[str, str] = {
    "register": "зарегистрировано",
    "route": "предложено направить в {units}",
    "route:pos": "направлено исполнителям: {units}",
    "approve_routing": "направление согласовано: {units}",
    "return": "возвращено куратору ЦУР (не компетенция администрации)",
    "info": "информация для ответа направлена",
    "decline": "возвращено: не компетенция подразделения",
    "accept": "принято в работу",
    "submit": "проект ответа направлен на согласование (версия {version})",
    "approve": "проект ответа согласован (версия {version})",
    "rework": "проект ответа возвращён на доработку",
    "publish": "ответ опубликован",
    "publish:pos": "ответ размещён в ПОС",
    "interim": "промежуточный ответ опубликован",
    "interim:pos": "промежуточный ответ размещён в ПОС",
    "exclude": "исключено из обработки",
    "significant": "доложено Главе района как общественно значимое",
    "close": "закрыто",
    "reopen": "работа по сообщению возобновлена",
    "set_detected": "указано время выявления ЦУР",
    # Otklik's checks (issue 13): the decision on the screening's warning, the answer checks' hold of a draft.
    "screen_keep": "решено не исключать: предупреждение проверки снято",
    "draft_held": "проект ответа задержан проверкой",
    "draft_withdrawn": "задержанный проект ответа отозван на исправление",
    "link_repeat": "отмечено как повторное",
    "handed_over": "передано куратором ЦУР (присоединено к уже поступившему)",
    # The network item's own changes (issue 11), recorded by Отклик as the network reports them.
    "source_edited": "автор изменил текст в источнике",
    "source_deleted": "удалено в источнике",
    "source_restored": "восстановлено в источнике",
    # Publishing back to the network (issue 11).
    "publication_requested": "ответ поставлен в очередь на публикацию",
    "publication_requested:interim": "промежуточный ответ поставлен в очередь на публикацию",
    "publication_failed": "публикация ответа не удалась",
    "publication_unclear": "неизвестно, опубликован ли ответ: нужна проверка",
    "publication_undeliverable": "ответ нельзя опубликовать автоматически",
    "publication_late": "ответ опубликован в соцсети после отметки вручную",
    # Personal data (issue 14): erased after the retention period or on request, exported on request.
    "pd_erased": "персональные данные автора удалены",
    "pd_exported": "персональные данные автора выгружены по его запросу",
}
HISTORY_ORDER = " (очерёдность: {order})"
HISTORY_REPEAT_OF = " к № {case_id}"
HISTORY_RESPONSIBLE = "; ответственный — {unit}"
CARD_HINT_REPLY = "Ответьте на карточку текстом или файлами, чтобы направить {what}."
CARD_HINT_INFO = "информацию для ответа"
CARD_HINT_DRAFT = "проект ответа"
TRIMMED = "…"
HISTORY_UNDONE = "отменено действие «{what}»"
HISTORY_TITLE_HTML = "<b>История сообщения № {case_id}</b>"

DURATION_HM = "{h} ч {m} мин"
DURATION_H = "{h} ч"
DURATION_M = "{m} мин"
DURATION_DAYS = "{d} раб. дн."
DURATION_DAYS_H = "{d} раб. дн. {h} ч"
DURATION_DAYS_M = "{d} раб. дн. {m} мин"

# --- notifications ------------------------------------------------------------------------------------------

NOTE_REMINDER_HTML = "⏰ <b>Напоминание:</b> {title} — {owner}, до {due}; {left}"
NOTE_MISSED_HTML = "❗ <b>Срок пропущен:</b> {title} — {owner}, срок был до {due}"
NOTE_NOTICE_HTML = "🔔 <b>{label}</b>"
NOTE_CASE = "Сообщение № {case_id}"
# The head's report of a spike of similar messages (п.17, workflow/services/clusters.py).
NOTE_SPIKE_HTML = (
    "🚨 <b>Повышенная социальная активность (п.17)</b>: {count} похожих сообщений за {window}"
)
NOTE_SPIKE_GREW_HTML = "🚨 <b>Повышенная социальная активность</b>: ещё одно похожее сообщение, всего {count}"
NOTE_SPIKE_GREW_MANY_HTML = "🚨 <b>Повышенная социальная активность</b>: ещё похожих сообщений: {new}, всего {count}"
NOTE_SPIKE_ADDRESS = "Адрес: {address}"
NOTE_SPIKE_TOPIC = "Тема: {topic}"
NOTE_SPIKE_CASE = "• № {case_id} · {at} · {text}"
NOTE_SPIKE_MORE = "…и ещё {count}"
NOTE_REASON = "Причина: {reason}"
NOTE_COMMENT = "Комментарий: {reason}"
NOTE_UNIT = "Подразделение: {unit}"
NOTE_RESPONSIBLE = "Вы — ответственный исполнитель"
NOTE_ORDER = "Очерёдность подготовки информации: {order} из {of}"
NOTE_WAIT_TURN = "Срок начнётся, когда предыдущее подразделение направит информацию"
NOTE_TEXT = "Текст: {text}"
NOTE_AUTHOR = "Автор: {author}"
NOTE_MESSAGE = "Сообщение: {text}"
NOTE_LINK = "Ссылка: {link}"
NOTE_DELIVERY_FAILED_HTML = "⚠️ <b>Бот не может писать в рабочий чат</b>"
NOTE_FAILED_CHAT = "Чат: {who} (идентификатор {chat_id})"
NOTE_FAILED_REASON = "Ответ Telegram: {reason}"
NOTE_FAILED_CASE = "Не доставлено, в том числе, по сообщению № {case_id}"
NOTE_FAILED_ADVICE = (
    "Уведомления в этот чат не потеряны: они будут доставлены, как только бот снова сможет туда писать. "
    "Проверьте, что бот состоит в чате и может в нём писать, а идентификатор чата в настройках верен."
)
NOTE_FAILED_UNIT = "подразделение «{unit}»"
NOTE_FAILED_UNKNOWN = "чат не из настроек"
# A citizens' network not read for the health setting's minutes, and read again (bot/channel_health.py).
CHANNEL_NAMES = {"vk": "ВКонтакте"}
NOTE_CHANNEL_DOWN_HTML = (
    "⚠️ <b>{channel} не читается с {since}</b>\n"
    "Новые комментарии и сообщения граждан сейчас не поступают в «Отклик». Проверьте связь, ключ доступа "
    "сообщества и настройки Long Poll / Callback API (команда otklik check)."
)
NOTE_CHANNEL_RESTORED_HTML = (
    "✅ <b>{channel}: чтение восстановлено</b> (перерыв с {since} до {until})\n"
    "Пропущенное за перерыв найдёт сверка."
)
# Telegram's reasons, as staff read them (the original follows in brackets).
DELIVERY_REASONS: Mapping[str, str] = {
    "chat not found": "чат не найден (неверный идентификатор или бот не добавлен в чат)",
    "bot was kicked": "бот удалён из чата",
    "bot is not a member": "бот не состоит в чате",
    "bot was blocked by the user": "пользователь заблокировал бота",
    "user is deactivated": "пользователь удалил свой аккаунт",
    "not enough rights": "у бота нет права писать в чат",
    "have no rights to send": "у бота нет права писать в чат",
}

# --- commands -----------------------------------------------------------------------------------------------

START = "Здравствуйте, {name}! Это «Отклик» — помощник по работе с сообщениями граждан (Порядок № 746).\nВаши роли: {roles}.\nСписок команд: /help"
HELP_COMMON = (
    "/my — мои сообщения и сроки\n"
    "/case N — карточка сообщения с историей: по номеру сообщения, номеру ПОС или ссылке на сообщение\n"
    "/find ТЕКСТ — поиск по тексту, автору, ссылке и номеру ПОС среди открытых и недавно закрытых сообщений\n"
    "/overdue — просроченные сроки\n"
    "/report [неделя|месяц|ГГГГ-ММ] — отчёт о соблюдении сроков (п. 18): сводка, диаграмма и файл Excel\n"
    "/undo N — отменить своё последнее действие по сообщению № N (в течение нескольких минут)\n"
    "/term СРОК [ВРЕМЯ] [КАТЕГОРИЯ] — калькулятор срока, например /term os.publish 2026-12-01T10:00\n"
    "/cancel — отменить начатый ввод: регистрацию ПОС, причину или ссылку\n"
    "/id — мой id и id этого чата"
)
HELP_BY_ROLE: Mapping[Role, str] = {
    Role.OPERATOR: (
        "Уполномоченное лицо: публикуйте или пересылайте сообщения в чат приёма и укажите кнопкой под вопросом "
        "бота, откуда сообщение (или «Не регистрировать»); "
        "направляйте в подразделения кнопками карточки; проект ответа — ответом на карточку; "
        "после согласования отметьте «Опубликовано» или «Промежуточный ответ»."
    ),
    Role.OFFICE_HEAD: (
        "Начальник управления делами: согласуйте или измените направление в подразделения; "
        "/close N причина — закрыть сообщение, /reopen N причина — возобновить закрытое."
    ),
    Role.REGION_CURATOR: "Куратор ЦУР: согласуйте проект ответа или верните его на доработку с причиной.",
    Role.UNIT_OFFICIAL: (
        "Должностное лицо подразделения: направьте информацию для ответа ответом на карточку; "
        "если вопрос не ваш — «Не наша компетенция»."
    ),
    Role.HEAD: "Глава района: вы получаете доклады об общественно значимых сообщениях и пропущенных сроках.",
    Role.COORDINATOR: (
        "Координатор ПОС: отмечайте размещение ответов в ПОС; /my — согласованные ответы, ждущие размещения."
    ),
    Role.POS_CURATOR: (
        "Куратор ПОС: регистрируйте сообщения командой /pos или пересылкой уведомления ПОС; "
        "направляйте исполнителям; согласуйте проект или верните на доработку."
    ),
    Role.EXECUTOR: (
        "Исполнитель: «Принять» или «Не наша компетенция»; ответственный исполнитель направляет проект "
        "ответа ответом на карточку, соисполнитель — информацию."
    ),
}
COMMAND_DESCRIPTIONS: Mapping[str, str] = {
    "start": "Начало работы",
    "help": "Что я могу сделать",
    "id": "Мой id и id этого чата",
    "my": "Мои сообщения и сроки",
    "case": "Карточка сообщения: /case номер, номер ПОС или ссылка",
    "find": "Поиск сообщений: /find текст",
    "overdue": "Просроченные сроки",
    "term": "Калькулятор срока",
    "pos": "Зарегистрировать сообщение ПОС",
    "cancel": "Отменить начатый ввод",
    "undo": "Отменить своё последнее действие: /undo N",
    "close": "Закрыть сообщение: /close N причина",
    "reopen": "Возобновить закрытое сообщение: /reopen N причина",
    "report": "Отчёт о сроках: /report неделя, месяц или ГГГГ-ММ",
}
MY_EMPTY = "У вас нет открытых сроков."
MY_TITLE_HTML = "<b>Мои сроки</b>"
MY_LINE = "№ {case_id} · {title} — до {due}; {left}"
OVERDUE_EMPTY = "Просроченных сроков нет."
OVERDUE_TITLE_HTML = "<b>Просроченные сроки</b>"
OVERDUE_LINE = "№ {case_id} · {title} — {owner}, до {due}; {late}"
MORE_LINES = "… и ещё {count}"
CASE_USAGE = (
    "Укажите номер сообщения, номер ПОС или ссылку на сообщение: /case 15, /case 4512345 "
    "или /case https://vk.com/wall-1_2"
)
CASE_NOT_FOUND = "Сообщение не найдено."
CASE_CHOICE_TITLE_HTML = "<b>«{value}» подходит к нескольким сообщениям</b> — откройте нужное:"
CASE_CHOICE_LINE = "{line} — /case №{case_id}"
FOUND_LINE = "№ {case_id} · {status} · {text}"
FOUND_POS_NUMBER = "ПОС {number}"
FIND_USAGE = "Укажите, что искать (не меньше 2 символов): /find яма у школы"
FIND_TOO_LONG = "Слишком длинный запрос: не больше {limit} символов."
FIND_NOTHING = "Ничего не найдено среди открытых сообщений и закрытых за последние 90 дней."
FIND_TITLE_HTML = "<b>Найдено</b> (сначала новые):"
FIND_LINE = "{line} — /case {case_id}"
FIND_MORE = "Показаны {count} самых новых — уточните запрос."
CLOSE_USAGE = "Укажите номер сообщения и причину: /close 15 дубль сообщения № 12"
REOPEN_USAGE = "Укажите номер сообщения и причину: /reopen 15 автор уточнил вопрос"
UNDO_USAGE = "Укажите номер сообщения, последнее действие по которому нужно отменить: /undo 15"
TERM_USAGE = "Использование: /term СРОК [ВРЕМЯ|now] [КАТЕГОРИЯ]\nСроки: {terms}\nВремя: 2026-12-01T10:00 (местное) или now"
TERM_UNKNOWN = "Неизвестный срок «{term}». Сроки: {terms}"
TERM_BAD_TIME = "Не понял время «{value}». Пример: 2026-12-01T10:00 или now"
TERM_BAD_YEAR = "Сроки считаются только для {first}–{last} годов: проверьте год."
TERM_NEEDS_CATEGORY = "Для этого срока укажите категорию: {categories}"
TERM_RESULT = "{title} ({clause}), от {start}: до {due}"

# --- ПОС registration -----------------------------------------------------------------------------------------

POS_ASK_NUMBER = "Регистрация сообщения ПОС. Введите номер сообщения в ПОС (только цифры)."
POS_BAD_NUMBER = "Номер ПОС — от 5 до 20 цифр. Введите номер ещё раз (или /cancel — отменить регистрацию)."
POS_ASK_CATEGORY = "Выберите категорию сообщения."
POS_ASK_RECEIVED = "Когда сообщение поступило в ПОС? ДД.ММ.ГГГГ ЧЧ:ММ (местное время) или «сейчас»."
POS_BAD_RECEIVED = "Не понял дату. Пример: 01.12.2026 10:15 или «сейчас»."
POS_FUTURE_RECEIVED = "Дата поступления не может быть позже текущего момента."
POS_ASK_DUE = "Срок ответа в ПОС (ДД.ММ.ГГГГ), если указан. Если в ПОС срока нет — «Не указан»."
POS_BAD_DUE = "Не понял дату срока: нужна ДД.ММ.ГГГГ, например 10.12.2026."
POS_NO_SUCH_DATE = "Такой даты нет: {value}."
POS_DUE_BAD_YEAR = "Срок ответа в ПОС: год {year} вне календаря ({first}–{last}), проверьте год."
POS_DUE_AGAIN = " Введите срок ответа в ПОС ещё раз (ДД.ММ.ГГГГ) или нажмите «Не указан»."
POS_NO_DUE_CHOSEN = "Срок ответа в ПОС: не указан"
POS_NO_DUE_WORDS = ("не указан", "не указано", "нет", "-", "—")
BTN_POS_NO_DUE = "Не указан"
POS_ASK_TEXT = "Введите текст сообщения."
POS_CATEGORY_CHOSEN = "Категория: {title}"
POS_CANCEL = "Отменено: регистрация сообщения ПОС."
POS_INTERRUPTED = "Диалог прерван перезапуском, начните заново: /pos"
POS_COMMAND_IN_DIALOGUE = (
    "Идёт регистрация сообщения ПОС: команда — не ответ. Ответьте на вопрос или /cancel — отменить."
)
POS_CANCELLED_BEFORE = "Регистрация была отменена командой /cancel. Начать заново: /pos"
POS_NUMBER_HINT = "Номер в ПОС"
POS_RECEIVED_HINT = "ДД.ММ.ГГГГ ЧЧ:ММ или «сейчас»"
POS_TEXT_HINT = "Текст сообщения"
POS_NOW_WORDS = ("сейчас", "now")

# --- the office head's daily digest (views/digest.py) ---------------------------------------------------------

DIGEST_TITLE_HTML = "📋 <b>Сводка на {day}</b>"
DIGEST_NEW_HTML = "<b>Новых сообщений с {since}:</b> {total}"
DIGEST_NEW_NONE_HTML = "Новых сообщений с {since} нет."
DIGEST_NEW_PART_HTML = "• {procedure} — {count}"
DIGEST_PROCEDURES: Mapping[str, str] = {"open_sources": "открытые источники", "pos": "ПОС"}
DIGEST_OPEN_HTML = "<b>В работе:</b> {total}"
DIGEST_OPEN_NONE = "Открытых сообщений нет."
DIGEST_STATUS_LINE_HTML = "• {status} — {count}"
DIGEST_DUE_TODAY_HTML = "⏳ <b>Сроки сегодня</b> ({total}):"
DIGEST_OVERDUE_HTML = "❗ <b>Просрочено</b> ({total}):"
DIGEST_APPROVALS_HTML = "✅ <b>Ждут вашего решения</b> ({total}):"
DIGEST_TERM_LINE_HTML = "• № {case}, до {due} — {title} — {owner}"
DIGEST_APPROVAL_LINE_HTML = "• № {case}, до {due} — {title}"
DIGEST_MORE_HTML = "…и ещё {count}"
# Each person's morning digest (issue 14): his own terms due today and overdue.
MORNING_TITLE_HTML = "☀️ <b>Ваши сроки на {day}</b>"
MORNING_DUE_TODAY_HTML = "⏳ <b>Сегодня</b> ({total}):"
MORNING_OVERDUE_HTML = "❗ <b>Просрочено</b> ({total}):"
# The weekly п.18 report (issue 14): its summary heads the chart and the workbook.
WEEKLY_REPORT_TITLE_HTML = "📊 <b>Еженедельный отчёт о соблюдении сроков</b>"
WEEKLY_REPORT_UNAVAILABLE = "Еженедельный отчёт за {first} — {last}: отчёты в этом запуске не подключены."

# --- publishing answers back to the networks (issue 11) -------------------------------------------------------

BTN_PUBLISH_AUTO = "Опубликовать"
BTN_PUBLISH_MANUAL = "Опубликовано вручную"
BTN_PUBLISH_AUTO_CONFIRM = "Опубликовать без их информации"
BTN_INTERIM_AUTO = "Опубликовать как промежуточный"
BTN_INTERIM_MANUAL = "Промежуточный опубликован вручную"
BTN_PUBLISH_AGAIN = "Опубликовать снова"

# --- Otklik's checks (issue 13): the screening at intake, the answer checks at submit ----------------------------

BTN_SCREEN_EXCLUDE = "Исключить ({point})"
BTN_SCREEN_KEEP = "Не исключать"
BTN_SIGNIFICANT_SUGGESTED = "❗ Доложить Главе"
BTN_SUBMIT_ANYWAY = "Отправить всё равно"
BTN_FIX_DRAFT = "Исправить"
CARD_SCREEN_WARNING = "⚠ Возможно, {point}: {ground}"
CARD_SCREEN_KEPT = "Проверка {point}: решено не исключать"
CARD_SCREEN_SIGNIFICANT = "❗ Возможно, общественно значимое: {words}"
CARD_SCREEN_SIGNIFICANT_OS = "❗ Возможно, общественно значимое (п.17): {words} — доложите Главе района"
CARD_DRAFT_HELD = "⏸ Проект ответа задержан проверкой: {findings}"
CARD_CHECKS_HTML = "<b>Проверка проекта ответа:</b>"
CARD_CHECK = "• {text}"
HISTORY_SCREENED = "; проверка {point}: {grounds}"
HISTORY_SENT_ANYWAY = " — отправлен, несмотря на замечания проверки"
DRAFT_HELD_HTML = (
    "<b>Проект ответа по сообщению № {case_id} не отправлен</b> — проверка нашла:\n{findings}\n\n"
    "«Отправить всё равно» — направить его на согласование как есть; «Исправить» — прислать исправленный "
    "проект ответом на карточку."
)
DRAFT_SENT_ANYWAY_LINE = "→ Направлен на согласование как есть, с замечаниями проверки."
DRAFT_WITHDRAWN_LINE = "→ Отозван на исправление: пришлите исправленный проект ответом на карточку."
DRAFT_HELD_TOAST = "Проект не отправлен: проверка нашла замечания"
DRAFT_WITHDRAWN = "Проект отозван. Пришлите исправленный проект ответом на карточку № {case_id}."
# «во ВКонтакте», «в Одноклассниках»: where the answer goes.
NETWORK_IN: Mapping[str, str] = {
    "vk": "во ВКонтакте", "ok": "в Одноклассниках", "telegram": "в Telegram", "max": "в MAX"
}
PUBLICATION_QUEUED = "Ответ публикуется {network}; карточка покажет ссылку, когда соцсеть подтвердит."
CARD_PUBLICATION_PENDING = "⏳ Ответ публикуется {network}…"
INTERIM_QUEUED = (
    "Промежуточный ответ публикуется {network}; карточка покажет ссылку, когда соцсеть подтвердит."
)
CARD_INTERIM_PENDING = "⏳ Промежуточный ответ публикуется {network}…"
CARD_INTERIM_RETRY = "⏳ Промежуточный ответ публикуется {network}: повтор не раньше {at} ({reason})"
CARD_PUBLICATION_RETRY = "⏳ Ответ публикуется {network}: повтор не раньше {at} ({reason})"
CARD_PUBLICATION_FAILED = "❌ Публикация {network} не удалась: {reason}"
CARD_PUBLICATION_UNCLEAR = "❓ {reason}"  # the reason says what to check and which button to press
CARD_PUBLICATION_UNDELIVERABLE = (
    "✋ Опубликовать {network} автоматически нельзя: {reason}. Разместите ответ вручную (текст — в проекте "
    "ответа ниже) и нажмите «Опубликовано»."
)
PUBLICATION_NOTICES: Mapping[str, str] = {
    "publication_undeliverable": "Ответ не опубликован автоматически — разместите его вручную",
    "publication_failed": "Публикация ответа не удалась",
    "publication_unclear": "Неизвестно, опубликован ли ответ — проверьте обсуждение",
}
NOTE_PUBLICATION_REASON = "Причина: {reason}"
NOTE_PUBLICATION_TEXT = "Текст ответа для копирования:\n{text}"

# --- ПОС notification e-mails (issue 12) -------------------------------------------------------------------
POS_MAIL_UNPARSED_HTML = (
    "⚠️ <b>Письмо ПОС: не удалось разобрать</b>\n{problems}\nТема: {subject}\nОт: {sender}\n\n"
    "Текст письма:\n<pre>{raw}</pre>\n\nСообщение не зарегистрировано. Зарегистрируйте его вручную: /pos"
)
POS_MAIL_RAW_CUT = "\n… (текст сокращён; письмо целиком сохранено)"
POS_MAIL_REPEAT_HTML = (
    "🔁 <b>Письмо ПОС: сообщение № {number} уже зарегистрировано</b>, но с другим текстом. Второй раз оно "
    "не зарегистрировано. Возможно, это повторное обращение: проверьте и при необходимости зарегистрируйте "
    "его как повторное.\n\nТекст из нового письма:\n<pre>{text}</pre>"
)
POS_CATEGORY_UNKNOWN_HTML = (
    "⚠️ <b>Неизвестная категория ПОС: «{category}»</b>: её нет в таблице категорий, срок посчитан по самому "
    "строгому классу «{title}». Проверьте категорию сообщения и добавьте её в таблицу [pos] categories настроек."
)
POS_CATEGORY_NONE = "не указана"
POS_MAIL_ATTACHMENT_CUT = "вложение «{name}» ({size} МБ) не сохранено: больше {limit} МБ"
POS_MAIL_RAW_NAME = "письмо ПОС {number}.eml"
