"""``/voices``: the user's cloned voices — filter by model, rename, new sample, delete, quota."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.audio import drop_zone, sample_problems, upload_icon
from console.components.common import (
    card,
    card_title,
    confirm_dialog,
    copy_button,
    empty_state,
    icon_action,
    paged_list,
    stat,
)
from console.components.dialogs import (
    close_button,
    dialog,
    dialog_footer,
    dialog_form,
    dialog_text,
    form_footer,
)
from console.components.filters import select_with_all
from console.components.forms import input_field
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import narrow_item, scrolling_table, table_header
from console.i18n import tr
from console.pages.clone import status_badge
from console.state.my_voices import REPLACE_UPLOAD_ID, MyVoicesState


def _clone_button() -> rx.Component:
    return rx.link(
        rx.button(rx.icon("wand-sparkles", size=15), tr("Clone a voice", "复刻新音色")),
        href=routes.CLONE,
        data_testid="new-clone",
    )


def _model_filter() -> rx.Component:
    return select_with_all(
        MyVoicesState.model_filter,
        MyVoicesState.set_model_filter,
        rx.foreach(
            MyVoicesState.model_options,
            lambda model: rx.select.item(model["name"], value=model["id"]),
        ),
        everything=tr("All models", "全部模型"),
        test_id="model-filter",
        placeholder=tr("All models", "全部模型"),
        min_width="10rem",
    )


def _actions(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.hstack(
        rx.cond(
            row["status"] == "OK",
            rx.link(
                rx.icon_button(rx.icon("play", size=14), variant="soft", size="1"),
                href=row["playground"],
                title=tr("Use in playground", "在体验中心使用"),
                aria_label=tr("Use in playground", "在体验中心使用"),
            ),
        ),
        icon_action(
            "pencil",
            tr("Rename", "重命名"),
            test_id="rename",
            on_click=MyVoicesState.open_rename(row["voice_id"], row["prefix"]),
            variant="soft",
            color_scheme="gray",
        ),
        icon_action(
            "file-up",
            tr("Replace sample", "更换样本"),
            test_id="replace",
            on_click=MyVoicesState.open_replace(row["voice_id"]),
            variant="soft",
            color_scheme="gray",
        ),
        confirm_dialog(
            icon_action(
                "trash-2",
                tr("Delete", "删除"),
                test_id="delete",
                variant="soft",
                color_scheme="red",
            ),
            title=tr("Delete this voice?", "删除此音色？"),
            text=tr(
                "The voice and its sample are deleted for good. Requests that use its id "
                "will fail.",
                "音色及其样本将被永久删除，使用该音色 ID 的请求将会失败。",
            ),
            confirm_label=tr("Delete voice", "删除音色"),
            on_confirm=MyVoicesState.delete_voice(row["voice_id"]),
        ),
        spacing="2",
        justify="end",
    )


def _row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(row["prefix"], size="2", weight="medium", data_testid="voice-prefix"),
                rx.hstack(
                    rx.code(row["voice_id"], size="1", variant="ghost", color=styles.TEXT_MUTED),
                    copy_button(row["voice_id"], label=""),
                    spacing="1",
                    align="center",
                ),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(row["model"], size="2", white_space="nowrap")),
        rx.table.cell(
            rx.vstack(
                status_badge(row["status"], size="1"),
                rx.cond(
                    row["reason"] != "",
                    rx.text(row["reason"], size="1", color=rx.color("red", 11), max_width="18rem"),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.text(row["created"], size="2", white_space="nowrap", style=styles.NUMERIC)
        ),
        rx.table.cell(_actions(row)),
        align="center",
        data_testid="voice-row",
        data_voice_id=row["voice_id"],
    )


def _table() -> rx.Component:
    return scrolling_table(
        table_header(
            tr("Voice", "音色"),
            tr("Model", "模型"),
            tr("Status", "状态"),
            tr("Created (UTC)", "创建时间（UTC）"),
            "",
        ),
        rx.table.body(rx.foreach(MyVoicesState.rows, _row)),
        variant="ghost",
        size="2",
        min_width="44rem",
        display=["none", "none", "block"],
    )


def _mobile_item(row: rx.Var[dict[str, str]]) -> rx.Component:
    """One voice as a compact block, for screens too narrow for the table."""
    return narrow_item(
        rx.hstack(
            rx.text(row["prefix"], size="3", weight="medium"),
            status_badge(row["status"], size="1"),
            justify="between",
            align="center",
            width="100%",
        ),
        rx.code(row["voice_id"], size="1", variant="ghost", color=styles.TEXT_MUTED),
        rx.text(row["model"], " · ", row["created"], size="1", color=styles.TEXT_SUBTLE),
        rx.cond(
            row["reason"] != "",
            rx.text(row["reason"], size="1", color=rx.color("red", 11)),
        ),
        _actions(row),
    )


def _mobile_list() -> rx.Component:
    return rx.vstack(
        rx.foreach(MyVoicesState.rows, _mobile_item),
        spacing="0",
        width="100%",
        display=["flex", "flex", "none"],
    )


def _rename_dialog() -> rx.Component:
    return dialog(
        tr("Rename voice", "重命名音色"),
        dialog_text(
            tr(
                "The name prefix changes; the voice id stays the same.",
                "只修改名称前缀，音色 ID 保持不变。",
            )
        ),
        dialog_form(
            input_field(
                tr("Name prefix", "名称前缀"),
                "rename-prefix",
                error=MyVoicesState.rename_error,
                hint=tr("1–10 letters, digits or underscores.", "1–10 个字母、数字或下划线。"),
                name="prefix",
                default_value=MyVoicesState.rename_value,
                max_length=10,
                required=True,
                auto_focus=True,
                data_testid="rename-input",
            ),
            form_footer(tr("Save", "保存"), test_id="rename-save"),
            on_submit=MyVoicesState.save_rename,
            margin_top="1rem",
        ),
        open=MyVoicesState.rename_open,
        on_open_change=MyVoicesState.set_rename_open,
        max_width="26rem",
    )


def _replace_dialog() -> rx.Component:
    return dialog(
        tr("Replace sample", "更换样本"),
        dialog_text(
            tr(
                "The voice is enrolled again from the new sample and is DEPLOYING until "
                "it has passed its checks. Same rules: 10–60 s of clear speech, ≤ 10 MB.",
                "将用新样本重新复刻，通过检查前音色处于部署中状态。要求不变：10–60 秒清晰语音，"
                "不超过 10 MB。",
            )
        ),
        drop_zone(
            REPLACE_UPLOAD_ID,
            upload_icon(MyVoicesState.replace_checking, size=20),
            rx.text(
                tr(
                    "Drop an audio file here, or click to choose",
                    "将音频文件拖到这里，或点击选择",
                ),
                size="2",
                text_align="center",
            ),
            accept={"audio/*": [".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".webm"]},
            on_drop=MyVoicesState.replace_sample(rx.upload_files(upload_id=REPLACE_UPLOAD_ID)),
            on_drop_rejected=MyVoicesState.sample_rejected,
            padding="1.5rem 1rem",
            margin_top="1rem",
            border=f"1.5px dashed {rx.color('gray', 7)}",
            data_testid="replace-upload",
        ),
        sample_problems(
            MyVoicesState.replace_problems, test_id="replace-problems", margin_top="1rem"
        ),
        dialog_footer(close_button(), margin_top="1rem"),
        open=MyVoicesState.replace_open,
        on_open_change=MyVoicesState.set_replace_open,
        max_width="30rem",
    )


def _list() -> rx.Component:
    return card(
        card_title("list", tr("Cloned voices", "复刻音色"), _model_filter()),
        rx.cond(
            MyVoicesState.rows.length() > 0,
            paged_list(MyVoicesState, _table(), _mobile_list()),
            rx.cond(
                MyVoicesState.model_filter == "all",
                empty_state(
                    "mic-vocal",
                    tr("No cloned voices yet", "还没有复刻音色"),
                    tr(
                        "Clone a voice from a 10–20 second recording and use it with any request.",
                        "用 10–20 秒的录音复刻一个音色，即可在请求中使用。",
                    ),
                    _clone_button(),
                ),
                empty_state(
                    "filter",
                    tr("No voices for this model", "此模型下没有音色"),
                    tr("Choose another model, or all models.", "请选择其他模型或全部模型。"),
                ),
            ),
        ),
    )


def _content() -> rx.Component:
    return app_shell(
        page_header(
            tr("My voices", "我的音色"),
            tr(
                "Voices you cloned. Each one speaks with the model it was made for.",
                "你复刻的音色，每个音色配合创建时选择的模型使用。",
            ),
            _clone_button(),
        ),
        rx.grid(
            stat(
                "gauge",
                tr("Voices used", "已用音色"),
                rx.text.span(MyVoicesState.used, tr(" of ", " / "), MyVoicesState.quota),
                note=tr(
                    "Each account may keep up to 1000 cloned voices.",
                    "每个账户最多保留 1000 个复刻音色。",
                ),
                test_id="voice-quota",
            ),
            columns=rx.breakpoints(initial="1", md="3"),
            width="100%",
        ),
        _list(),
        _rename_dialog(),
        _replace_dialog(),
        active_href=routes.MY_VOICES,
    )


def my_voices_page() -> rx.Component:
    return private_page(MyVoicesState, _content())
