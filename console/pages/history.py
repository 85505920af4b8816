"""``/history``: every operation of the signed-in user, with replay, transcripts and delete."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.components.el.elements.forms import Button
from reflex.vars import ObjectVar

from console import routes, styles
from console.components.audio import audio_player
from console.components.common import (
    card,
    card_title,
    confirm_dialog,
    copy_button,
    empty_state,
    label_badge,
    loading_rows,
    money,
    paged_list,
    playground_button,
    wide_or_narrow,
)
from console.components.dialogs import close_button, dialog, dialog_footer, dialog_text
from console.components.filters import (
    all_when_blank,
    clear_filters_button,
    date_range,
    filter_bar,
    select_with_all,
)
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import (
    narrow_item,
    scrolling_table,
    table_header,
)
from console.i18n import tr
from console.state.history import HistoryState

TYPE_LABELS = (
    ("tts", "Speech synthesis", "语音合成"),
    ("asr", "Speech recognition", "语音识别"),
    ("sed", "Emotion analysis", "情感分析"),
    ("voice", "Voice cloning", "声音复刻"),
)
STATUS_COLORS = (
    ("succeeded", "green", "Succeeded", "成功"),
    ("failed", "red", "Failed", "失败"),
    ("cancelled", "gray", "Cancelled", "已取消"),
    ("pending", "amber", "Queued", "排队中"),
    ("running", "blue", "Running", "进行中"),
)


def type_label(value: rx.Var) -> rx.Component:
    """The operation type in the reader's language."""
    return rx.match(value, *((t, tr(en, zh)) for t, en, zh in TYPE_LABELS), value)


def status_badge(value: rx.Var) -> rx.Component:
    return label_badge(value, STATUS_COLORS)


def key_cell(row: rx.Var) -> rx.Component:
    """The API key that made the call (masked), or the console."""
    return rx.cond(
        row["via_key"] == "1",
        rx.vstack(
            rx.text(row["key_name"], size="1", weight="medium"),
            rx.code(row["key_mask"], size="1", variant="ghost", color=styles.TEXT_MUTED),
            spacing="0",
        ),
        rx.badge(tr("Console", "控制台"), variant="surface", color_scheme="gray", radius="full"),
    )


@rx.memo
def history_filters(
    record_type: rx.Var[str], since: rx.Var[str], until: rx.Var[str], filtered: rx.Var[bool]
) -> rx.Component:
    """The filter bar, re-rendered only when a filter changes: as part of the page it would
    re-render with every page turn (bench B10), the type select most of all."""
    return filter_bar(
        select_with_all(
            all_when_blank(record_type),
            HistoryState.set_record_type,
            *(rx.select.item(tr(en, zh), value=t) for t, en, zh in TYPE_LABELS),
            everything=tr("All types", "全部类型"),
            test_id="history-type-filter",
            placeholder=tr("All types", "全部类型"),
        ),
        date_range(
            since,
            HistoryState.set_since,
            until,
            HistoryState.set_until,
            test_id="history",
        ),
        rx.cond(filtered, clear_filters_button(HistoryState.clear_filters)),
    )


def _filters() -> rx.Component:
    return history_filters(
        record_type=HistoryState.record_type,
        since=HistoryState.since,
        until=HistoryState.until,
        filtered=HistoryState.filtered,
    )


def _clicked_record(event: ObjectVar[Any]) -> tuple[rx.Var[str]]:
    """The record a click was for: the ``data-record`` of the row or card around the button."""
    record = f"({event}?.currentTarget?.closest('[data-record]')?.dataset?.record ?? '')"
    return (rx.Var(record, _var_type=str),)


class RecordTool(Button):
    """A record's button: its click hands the record's id (from the row or card it is in) to
    the handler, so the same button serves every record."""

    on_click: rx.EventHandler[_clicked_record]


def _tool(
    icon: str, label: Any, on_click: Any, test_id: str, color: str | None = None
) -> rx.Component:
    """A record's icon button, named by the browser's own tooltip: a plain button with Radix
    Themes' IconButton classes. A Radix component (or tooltip) per button is more components
    in each of 20 rows to render on every page turn (bench B10)."""
    accent = {"data-accent-color": color} if color else {}
    return RecordTool.create(
        rx.icon(icon, size=14),
        on_click=on_click,
        class_name="rt-reset rt-BaseButton rt-r-size-1 rt-variant-soft rt-IconButton",
        aria_label=label,
        title=label,
        type="button",
        custom_attrs=accent,
        data_testid=test_id,
    )


# A flex row of tools (Radix Themes' utility classes, not a style prop: see TABLE_CSS).
TOOLS = "rt-r-display-flex rt-r-gap-1 rt-r-ai-center"


@rx.memo
def history_tools(audio: rx.Var[bool], transcript: rx.Var[bool]) -> rx.Component:
    """A record's actions. The buttons find their record in the page, so records with the same
    kinds of output share the same buttons and a page turn re-renders none of them (B10)."""
    return rx.el.div(
        rx.cond(
            audio,
            rx.el.div(
                _tool("play", tr("Play", "播放"), HistoryState.play, "history-play"),
                _tool(
                    "download",
                    tr("Download audio", "下载音频"),
                    HistoryState.download_audio,
                    "history-download",
                ),
                class_name=TOOLS,
            ),
        ),
        rx.cond(
            transcript,
            _tool(
                "file-text",
                tr("View transcript", "查看转写"),
                HistoryState.show_transcript,
                "history-transcript",
            ),
        ),
        _tool(
            "trash-2",
            tr("Delete record", "删除记录"),
            HistoryState.ask_delete,
            "history-delete",
            color="red",
        ),
        class_name=f"{TOOLS} rt-r-jc-end",
    )


def _actions(row: rx.Var) -> rx.Component:
    return history_tools(audio=row["has_audio"] == "1", transcript=row["has_transcript"] == "1")


def _delete_confirmation() -> rx.Component:
    """One confirmation for every row: the row's button names the record it is for."""
    return confirm_dialog(
        None,
        title=tr("Delete this record?", "删除这条记录？"),
        text=tr(
            "The record and its audio are removed from your history. "
            "What it cost stays in your billing ledger.",
            "该记录及其音频将从调用记录中删除，已产生的费用仍保留在账单明细中。",
        ),
        confirm_label=tr("Delete", "删除"),
        on_confirm=HistoryState.confirm_delete,
        open=HistoryState.delete_open,
        on_open_change=HistoryState.set_delete_open,
    )


def _usage(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["usage"] == "",
        rx.text("—", color=styles.TEXT_SUBTLE),
        rx.text(
            row["usage"],
            rx.match(
                row["unit"],
                ("chars", tr(" chars", " 字符")),
                ("s", tr(" s", " 秒")),
                "",
            ),
            style=styles.NUMERIC,
            white_space="nowrap",
        ),
    )


def _request_id(row: rx.Var) -> rx.Component:
    """The request id, shortened on screen (whole on hover and when copied)."""
    return rx.code(
        row["request_id"],
        size="1",
        variant="ghost",
        color=styles.TEXT_MUTED,
        title=row["request_id"],
        cursor="copy",
        on_click=[
            rx.set_clipboard(row["request_id"]),
            rx.toast.success(tr("Request id copied", "已复制请求 ID"), duration=1500),
        ],
        max_width="8.5rem",
        overflow="hidden",
        text_overflow="ellipsis",
        white_space="nowrap",
        display="block",
        data_testid="history-request-id",
    )


def _model_lines(row: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(row["model"], size="2", white_space="nowrap"),
        rx.cond(row["voice"] != "", rx.text(row["voice"], size="1", color=styles.TEXT_MUTED)),
        rx.cond(row["result"] != "", rx.text(row["result"], size="1", color=styles.TEXT_MUTED)),
        rx.cond(
            row["error"] != "",
            rx.text(row["error"], size="1", color=rx.color("red", 11), max_width="16rem"),
        ),
        spacing="0",
    )


def _card(row: rx.Var) -> rx.Component:
    """An operation on a narrow screen: what, result, cost, and the same actions."""
    return narrow_item(
        rx.hstack(
            rx.hstack(
                rx.text(type_label(row["type"]), size="2", weight="medium"),
                status_badge(row["status"]),
                spacing="2",
                align="center",
            ),
            rx.text(money(row["cost"]), size="3", weight="medium", data_testid="history-cost"),
            justify="between",
            width="100%",
        ),
        rx.hstack(_model_lines(row), _usage(row), justify="between", width="100%"),
        rx.hstack(_request_id(row), key_cell(row), justify="between", width="100%"),
        rx.hstack(
            rx.text(row["time"], size="1", color=styles.TEXT_SUBTLE, style=styles.NUMERIC),
            _actions(row),
            justify="between",
            align="center",
            width="100%",
        ),
        data_testid="history-card",
        data_record=row["id"],
    )


# The wide table's cells are plain elements with Radix Themes' own classes: the same look as
# rx.text / rx.badge / rx.code, without a React component per piece. A page turn re-renders
# all 20 rows (bench row B10), so they carry no style props either: each of those is an
# Emotion component that serializes and hashes its styles on every render, about 1 ms of a
# page turn for the rows' dozen styled elements. Radix's utility classes and the few rules
# of TABLE_CSS (rendered once with the page) give the same styles.
def _css_rule(selector: str, declarations: dict[str, Any]) -> str:
    body = "; ".join(f"{name.replace('_', '-')}: {value}" for name, value in declarations.items())
    return f"{selector} {{ {body}; }}"


TABLE_CSS = "\n".join(
    (
        _css_rule(".history-row", {"vertical_align": "middle"}),
        _css_rule(".history-numeric", styles.NUMERIC),
        _css_rule(".history-muted", {"color": styles.TEXT_MUTED}),
        _css_rule(".history-subtle", {"color": styles.TEXT_SUBTLE}),
        _css_rule(".history-error", {"color": rx.color("red", 11), "max_width": "16rem"}),
        _css_rule(
            ".history-request-id",
            {
                "color": styles.TEXT_MUTED,
                "cursor": "copy",
                "max_width": "8.5rem",
                "overflow": "hidden",
                "text_overflow": "ellipsis",
                "white_space": "nowrap",
                "display": "block",
            },
        ),
    )
)
TEXT = "rt-Text rt-r-size-"
NUMBER = "rt-r-tw-nowrap history-numeric"
CODE = "rt-reset rt-Code rt-r-size-1 rt-variant-ghost"


def _span(content: Any, classes: str) -> rx.Component:
    return rx.el.span(content, class_name=classes)


def _line(content: Any, classes: str) -> rx.Component:
    return rx.el.div(content, class_name=classes)


def _light_badge(value: rx.Var, labels: Any) -> rx.Component:
    """``label_badge`` as a plain span with the Badge classes."""

    def badge(text: Any, color: str | None) -> rx.Component:
        accent = {"data-accent-color": color} if color else {}
        return rx.el.span(
            text,
            class_name="rt-reset rt-Badge rt-r-size-1 rt-variant-soft",
            custom_attrs={"data-radius": "full", **accent},
        )

    return rx.match(
        value,
        *((known, badge(tr(en, zh), color)) for known, color, en, zh in labels),
        badge(value, None),
    )


def _cell(*children: Any, **props: Any) -> rx.Component:
    return rx.el.td(*children, class_name="rt-TableCell", **props)


def _light_usage(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["usage"] == "",
        _span("—", f"{TEXT}2 history-subtle"),
        _span(
            rx.fragment(
                row["usage"],
                rx.match(row["unit"], ("chars", tr(" chars", " 字符")), ("s", tr(" s", " 秒")), ""),
            ),
            f"{TEXT}2 {NUMBER}",
        ),
    )


def _light_request_id(row: rx.Var) -> rx.Component:
    """``_request_id`` as a plain element with the Code classes."""
    return rx.el.code(
        row["request_id"],
        class_name=f"{CODE} history-request-id",
        title=row["request_id"],
        on_click=[
            rx.set_clipboard(row["request_id"]),
            rx.toast.success(tr("Request id copied", "已复制请求 ID"), duration=1500),
        ],
        data_testid="history-request-id",
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.el.tr(
        _cell(_span(row["time"], f"{TEXT}1 {NUMBER}")),
        _cell(
            _line(type_label(row["type"]), f"{TEXT}2 rt-r-weight-medium rt-r-tw-nowrap"),
            rx.el.div(_light_badge(row["status"], STATUS_COLORS), class_name="rt-r-mt-1"),
        ),
        _cell(
            _line(row["model"], f"{TEXT}2 rt-r-tw-nowrap"),
            rx.cond(row["voice"] != "", _line(row["voice"], f"{TEXT}1 history-muted")),
            rx.cond(row["result"] != "", _line(row["result"], f"{TEXT}1 history-muted")),
            rx.cond(row["error"] != "", _line(row["error"], f"{TEXT}1 history-error")),
        ),
        _cell(_light_usage(row)),
        _cell(
            _span(rx.fragment("¥", row["cost"]), f"{TEXT}2 {NUMBER}"),
            data_testid="history-cost",
        ),
        _cell(
            _light_request_id(row),
            rx.cond(
                row["via_key"] == "1",
                rx.el.div(
                    _line(row["key_name"], f"{TEXT}1 rt-r-weight-medium"),
                    rx.el.code(row["key_mask"], class_name=f"{CODE} history-muted"),
                    class_name="rt-r-mt-1",
                ),
                rx.el.div(
                    rx.el.span(
                        tr("Console", "控制台"),
                        class_name="rt-reset rt-Badge rt-r-size-1 rt-variant-surface",
                        custom_attrs={"data-radius": "full", "data-accent-color": "gray"},
                    ),
                    class_name="rt-r-mt-1",
                ),
            ),
        ),
        _cell(_actions(row)),
        class_name="rt-TableRow history-row",
        data_testid="history-row",
        data_record=row["id"],
    )


def _table() -> rx.Component:
    headers = (
        tr("Time (UTC)", "时间 (UTC)"),
        tr("Operation", "操作"),
        tr("Model · voice", "模型 · 音色"),
        tr("Usage", "用量"),
        tr("Cost", "费用"),
        tr("Request · key", "请求 · 密钥"),
        "",
    )
    return scrolling_table(
        table_header(*headers, white_space="nowrap"),
        rx.table.body(rx.foreach(HistoryState.rows, _row)),
        size="2",
    )


def _list() -> rx.Component:
    return card(
        card_title("history", tr("Operations", "操作记录")),
        _filters(),
        rx.cond(
            HistoryState.loading & (HistoryState.total == 0),
            loading_rows(4),
            rx.cond(
                HistoryState.total == 0,
                rx.cond(
                    HistoryState.filtered,
                    empty_state(
                        "search-x",
                        tr("Nothing matches these filters", "没有符合筛选条件的记录"),
                        tr("Try another type or date range.", "请尝试其他类型或日期范围。"),
                    ),
                    empty_state(
                        "history",
                        tr("No operations yet", "暂无调用记录"),
                        tr(
                            "Every synthesis, transcription, emotion analysis and voice clone "
                            "you make appears here, with what it cost.",
                            "每一次语音合成、识别、情感分析和声音复刻都会显示在这里，并附带费用。",
                        ),
                        playground_button(),
                    ),
                ),
                paged_list(
                    HistoryState,
                    wide_or_narrow(
                        _table(), rx.box(rx.foreach(HistoryState.rows, _card), width="100%")
                    ),
                ),
            ),
        ),
    )


def _player() -> rx.Component:
    return dialog(
        tr("Play audio", "播放音频"),
        dialog_text(HistoryState.player_title),
        rx.cond(
            HistoryState.player_url != "",
            audio_player(HistoryState.player_url, test_id="history-player", margin_top="1rem"),
        ),
        dialog_footer(
            rx.button(
                rx.icon("download", size=14),
                tr("Download", "下载"),
                on_click=HistoryState.download_audio(HistoryState.player_record),
                variant="soft",
            ),
            close_button(),
            margin_top="1rem",
        ),
        open=HistoryState.player_open,
        on_open_change=HistoryState.set_player_open,
        max_width="32rem",
    )


def _transcript() -> rx.Component:
    return dialog(
        tr("Transcript", "转写文本"),
        rx.box(
            rx.text(
                HistoryState.transcript_text,
                size="2",
                white_space="pre-wrap",
                data_testid="history-transcript-text",
            ),
            max_height="50vh",
            overflow_y="auto",
            padding="0.75rem",
            margin_top="0.75rem",
            border=styles.BORDER,
            border_radius="var(--radius-3)",
            background=rx.color("gray", 2),
        ),
        rx.cond(
            HistoryState.transcript_cut,
            rx.text(
                tr(
                    "The transcript is long: download it to read all of it.",
                    "转写内容较长，请下载查看全文。",
                ),
                size="1",
                color=styles.TEXT_MUTED,
                margin_top="0.5rem",
            ),
        ),
        dialog_footer(
            copy_button(HistoryState.transcript_text, size="2"),
            rx.button(
                rx.icon("download", size=14),
                tr("Download .txt", "下载 .txt"),
                on_click=HistoryState.download_transcript,
                variant="soft",
            ),
            close_button(),
            wrap="wrap",
            margin_top="1rem",
        ),
        open=HistoryState.transcript_open,
        on_open_change=HistoryState.set_transcript_open,
        max_width="40rem",
    )


def _history() -> rx.Component:
    return app_shell(
        page_header(
            tr("History", "调用记录"),
            tr(
                "Every operation you made, what it used and what it cost.",
                "你的每一次调用、用量与费用。",
            ),
        ),
        rx.el.style(TABLE_CSS),
        _list(),
        _player(),
        _transcript(),
        _delete_confirmation(),
        active_href=routes.HISTORY,
    )


def history_page() -> rx.Component:
    return private_page(HistoryState, _history())
