"""``/keys``: the signed-in user's API keys: create (shown once), rename, revoke, try with curl."""

from __future__ import annotations

import reflex as rx

from api.principal import SCOPES
from console import routes, styles
from console.components.common import (
    callout,
    card,
    card_title,
    confirm_dialog,
    copy_button,
    empty_state,
    icon_action,
    label_badge,
    labelled,
    muted,
    state_pager,
)
from console.components.dialogs import dialog, dialog_form, dialog_text, form_footer
from console.components.forms import field, input_field, stacked_form
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import scrolling_table, table_header
from console.i18n import tr
from console.state.keys import EXPIRY_DAYS, SCOPE_FIELD, KeysState

# What each scope lets a key do, in the reader's language.
SCOPE_LABELS = {
    "tts": ("Speech synthesis", "语音合成"),
    "asr": ("Speech recognition", "语音识别"),
    "sed": ("Emotion analysis", "情感分析"),
    "voice": ("Voice cloning", "声音复刻"),
    "history": ("History", "调用记录"),
}
EXPIRY_LABELS = {
    "never": ("Never", "永不过期"),
    "7": ("In 7 days", "7 天后"),
    "30": ("In 30 days", "30 天后"),
    "90": ("In 90 days", "90 天后"),
    "365": ("In 1 year", "1 年后"),
}
STATUS_BADGES = (
    ("active", "green", "Active", "有效"),
    ("revoked", "red", "Revoked", "已吊销"),
    ("expired", "gray", "Expired", "已过期"),
)


def _code_block(text: rx.Var[str], test_id: str) -> rx.Component:
    """Monospace text that wraps instead of widening the page."""
    return rx.box(
        rx.el.pre(
            text,
            font_family=styles.MONO_FAMILY,
            font_size="0.8125rem",
            line_height="1.6",
            white_space="pre-wrap",
            overflow_wrap="anywhere",
            margin="0",
            data_testid=test_id,
        ),
        padding="0.875rem 1rem",
        background=rx.color("gray", 3),
        border=styles.BORDER,
        border_radius="var(--radius-3)",
        width="100%",
        max_height="14rem",
        overflow_y="auto",
    )


def _status_badge(status: rx.Var) -> rx.Component:
    return label_badge(status, STATUS_BADGES)


def _dash_if_empty(value: rx.Var, empty: object = "—") -> rx.Component:
    return rx.cond(value != "", value, empty)


# --- create ------------------------------------------------------------------------------


def _create_form() -> rx.Component:
    scope_boxes = rx.flex(
        *(
            rx.el.label(
                rx.hstack(
                    rx.checkbox(
                        name=f"{SCOPE_FIELD}{scope}",
                        default_checked=True,
                        data_testid=f"scope-{scope}",
                    ),
                    rx.text(tr(*SCOPE_LABELS[scope]), size="2"),
                    rx.code(scope, size="1", variant="ghost", color=styles.TEXT_SUBTLE),
                    spacing="2",
                    align="center",
                ),
                cursor="pointer",
            )
            for scope in SCOPES
        ),
        direction="column",
        gap="2",
    )
    return stacked_form(
        input_field(
            tr("Name", "名称"),
            "key-name",
            error=KeysState.name_error,
            name="name",
            placeholder=tr("e.g. Production server", "例如：生产环境服务器"),
            max_length=100,
            auto_focus=True,
            data_testid="key-name",
        ),
        rx.grid(
            field(
                tr("Expires", "有效期"),
                rx.select.root(
                    rx.select.trigger(width="100%", id="key-expiry"),
                    rx.select.content(
                        *(
                            rx.select.item(tr(*EXPIRY_LABELS[value]), value=value)
                            for value in EXPIRY_DAYS
                        )
                    ),
                    name="expiry",
                    default_value="never",
                ),
                control_id="key-expiry",
                error="",
            ),
            input_field(
                tr("Spend cap (¥)", "消费上限（元）"),
                "key-cap",
                error=KeysState.spend_cap_error,
                name="spend_cap",
                placeholder=tr("No cap", "不限"),
                input_mode="decimal",
                data_testid="key-cap",
            ),
            input_field(
                tr("Requests per minute", "每分钟请求数"),
                "key-rpm",
                error=KeysState.rpm_error,
                name="rpm",
                placeholder=tr("Account default", "账户默认"),
                input_mode="numeric",
                data_testid="key-rpm",
            ),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="3",
            width="100%",
        ),
        rx.vstack(
            rx.text(tr("Permissions", "权限"), size="2", weight="medium"),
            scope_boxes,
            rx.cond(
                KeysState.scopes_error != "",
                rx.text(KeysState.scopes_error, size="2", color=rx.color("red", 11)),
            ),
            spacing="2",
            width="100%",
        ),
        form_footer(
            tr("Create key", "创建密钥"),
            test_id="create-key-submit",
            loading=KeysState.creating,
            margin_top="0.5rem",
        ),
        on_submit=KeysState.create,
    )


def _create_dialog() -> rx.Component:
    return dialog(
        tr("Create an API key", "创建 API 密钥"),
        dialog_text(
            tr(
                "Keys authenticate your requests to the API. Limit each one to what it needs.",
                "密钥用于调用 API 时的身份验证。建议每个密钥只授予所需的权限。",
            ),
            margin_bottom="1rem",
        ),
        _create_form(),
        open=KeysState.create_open,
        on_open_change=KeysState.set_create_open,
        max_width="34rem",
    )


def _reveal_dialog() -> rx.Component:
    """The new key in full, once, with a copy button and a request that uses it."""
    return dialog(
        tr("Your new API key", "新的 API 密钥"),
        rx.vstack(
            callout(
                "triangle-alert",
                tr(
                    "Copy it now and keep it somewhere safe. "
                    "For your security it will not be shown again.",
                    "请立即复制并妥善保存。出于安全考虑，关闭后将无法再次查看。",
                ),
                color="amber",
                size="1",
            ),
            rx.text(KeysState.revealed_name, size="2", weight="medium"),
            rx.hstack(
                rx.code(
                    KeysState.revealed_key,
                    size="3",
                    variant="soft",
                    font_family=styles.MONO_FAMILY,
                    word_break="break-all",
                    padding="0.5rem 0.75rem",
                    flex="1",
                    data_testid="revealed-key",
                ),
                copy_button(KeysState.revealed_key, data_testid="copy-key", flex_shrink="0"),
                align="center",
                spacing="2",
                width="100%",
            ),
            rx.hstack(
                rx.text(
                    tr("Try it: text to speech with curl", "试一试：用 curl 合成语音"),
                    size="2",
                    weight="medium",
                ),
                copy_button(KeysState.revealed_curl, data_testid="copy-curl"),
                justify="between",
                align="center",
                width="100%",
            ),
            _code_block(KeysState.revealed_curl, "revealed-curl"),
            rx.hstack(
                rx.button(
                    tr("I have saved it", "我已保存"),
                    on_click=KeysState.dismiss_reveal,
                    data_testid="reveal-done",
                ),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
            margin_top="0.75rem",
        ),
        open=KeysState.reveal_open,
        on_open_change=KeysState.reveal_open_change,
        max_width="40rem",
        # An outside click must not lose a key that can never be shown again.
        on_interact_outside=rx.prevent_default,
        data_testid="reveal-dialog",
    )


def _rename_dialog() -> rx.Component:
    return dialog(
        tr("Rename key", "重命名密钥"),
        dialog_form(
            input_field(
                tr("Name", "名称"),
                "rename-name",
                error=KeysState.rename_error,
                name="name",
                default_value=KeysState.rename_name,
                key=KeysState.rename_id,
                max_length=100,
                auto_focus=True,
                data_testid="rename-input",
            ),
            form_footer(tr("Save", "保存"), test_id="rename-save"),
            on_submit=KeysState.rename,
            width="100%",
            margin_top="0.75rem",
        ),
        open=KeysState.rename_id != "",
        on_open_change=KeysState.rename_open_change,
        max_width="26rem",
    )


# --- the list ----------------------------------------------------------------------------


def _limits(row: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.cond(
            row["spend_cap"] != "",
            rx.text(tr("Cap ¥", "上限 ¥"), row["spend_cap"], size="1"),
            rx.text(tr("No cap", "不限额"), size="1", color=styles.TEXT_SUBTLE),
        ),
        rx.cond(
            row["rpm"] != "",
            rx.text(row["rpm"], tr(" / min", " 次/分"), size="1"),
        ),
        spacing="0",
    )


def _actions(row: rx.Var) -> rx.Component:
    live = row["status"] == "active"
    return rx.cond(
        row["status"] != "revoked",
        rx.hstack(
            icon_action(
                "pencil",
                tr("Rename", "重命名"),
                test_id="rename-key",
                on_click=KeysState.start_rename(row["id"], row["name"]),
                variant="ghost",
                color_scheme="gray",
            ),
            confirm_dialog(
                icon_action(
                    "ban",
                    tr("Revoke", "吊销"),
                    test_id="revoke-key",
                    variant="ghost",
                    color_scheme="red",
                ),
                title=tr("Revoke this key?", "吊销该密钥？"),
                text=rx.cond(
                    live,
                    tr(
                        "Requests using it will be refused within a second. This cannot be undone.",
                        "使用该密钥的请求将在 1 秒内被拒绝，此操作无法撤销。",
                    ),
                    tr("This cannot be undone.", "此操作无法撤销。"),
                ),
                confirm_label=tr("Revoke key", "吊销密钥"),
                on_confirm=KeysState.revoke(row["id"]),
            ),
            spacing="3",
            justify="end",
        ),
        rx.fragment(),
    )


def _row(row: rx.Var) -> rx.Component:
    revoked = row["status"] == "revoked"
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(
                    row["name"],
                    size="2",
                    weight="medium",
                    color=rx.color("gray", 12),
                    data_testid="key-name-cell",
                ),
                rx.code(
                    row["masked"],
                    size="1",
                    variant="ghost",
                    color=styles.TEXT_MUTED,
                    font_family=styles.MONO_FAMILY,
                    white_space="nowrap",
                ),
                spacing="1",
            )
        ),
        rx.table.cell(_status_badge(row["status"])),
        rx.table.cell(rx.text(row["scopes"], size="1", color=styles.TEXT_MUTED)),
        rx.table.cell(_limits(row)),
        rx.table.cell(rx.text(row["created"], size="1", white_space="nowrap")),
        rx.table.cell(
            rx.text(
                _dash_if_empty(row["last_used"], tr("Never", "从未使用")),
                size="1",
                white_space="nowrap",
            )
        ),
        rx.table.cell(
            rx.text(
                _dash_if_empty(row["expires"], tr("Never", "永不")),
                size="1",
                white_space="nowrap",
            )
        ),
        rx.table.cell(_actions(row)),
        opacity=rx.cond(revoked, "0.6", "1"),
        align="center",
        data_testid="key-row",
    )


def _card_fact(label: object, value: rx.Component) -> rx.Component:
    return labelled(label, value, spacing="0")


def _key_card(row: rx.Var) -> rx.Component:
    """One key on a small screen, where the table would not fit."""
    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text(row["name"], size="2", weight="medium", color=rx.color("gray", 12)),
                rx.code(
                    row["masked"],
                    size="1",
                    variant="ghost",
                    color=styles.TEXT_MUTED,
                    font_family=styles.MONO_FAMILY,
                ),
                spacing="1",
                min_width="0",
            ),
            _status_badge(row["status"]),
            justify="between",
            align="start",
            width="100%",
        ),
        rx.text(row["scopes"], size="1", color=styles.TEXT_MUTED),
        rx.grid(
            _card_fact(tr("Created (UTC)", "创建时间（UTC）"), rx.text(row["created"], size="1")),
            _card_fact(
                tr("Last used", "最近使用"),
                rx.text(_dash_if_empty(row["last_used"], tr("Never", "从未使用")), size="1"),
            ),
            _card_fact(
                tr("Expires", "过期时间"),
                rx.text(_dash_if_empty(row["expires"], tr("Never", "永不")), size="1"),
            ),
            _card_fact(tr("Limits", "限额"), _limits(row)),
            columns="2",
            spacing="3",
            width="100%",
        ),
        _actions(row),
        spacing="3",
        width="100%",
        padding="0.875rem",
        border=styles.BORDER,
        border_radius="var(--radius-3)",
        opacity=rx.cond(row["status"] == "revoked", "0.7", "1"),
        data_testid="key-card",
    )


def _key_list() -> rx.Component:
    """A table on wide screens, a column of cards on narrow ones."""
    return rx.fragment(
        _key_table(),
        rx.vstack(
            rx.foreach(KeysState.rows, _key_card),
            spacing="3",
            width="100%",
            display=["flex", "flex", "none"],
        ),
    )


def _key_table() -> rx.Component:
    return scrolling_table(
        table_header(
            tr("Name / key", "名称 / 密钥"),
            tr("Status", "状态"),
            tr("Permissions", "权限"),
            tr("Limits", "限额"),
            tr("Created (UTC)", "创建时间（UTC）"),
            tr("Last used", "最近使用"),
            tr("Expires", "过期时间"),
            rx.table.column_header_cell(""),
            white_space="nowrap",
        ),
        rx.table.body(rx.foreach(KeysState.rows, _row)),
        variant="ghost",
        size="2",
        min_width="52rem",
        display=["none", "none", "block"],
    )


def _create_button(label: object) -> rx.Component:
    return rx.button(
        rx.icon("plus", size=16),
        label,
        on_click=KeysState.set_create_open(True),
        data_testid="create-key",
    )


def _keys_card() -> rx.Component:
    return card(
        card_title("key-round", tr("Your keys", "你的密钥")),
        rx.cond(
            KeysState.has_keys,
            rx.vstack(
                _key_list(),
                rx.cond(KeysState.pages > 1, state_pager(KeysState)),
                spacing="3",
                width="100%",
            ),
            empty_state(
                "key-round",
                tr("No API keys yet", "还没有 API 密钥"),
                tr(
                    "Create a key to call the speech API from your own code.",
                    "创建一个密钥，即可在你自己的代码中调用语音 API。",
                ),
                _create_button(tr("Create your first key", "创建第一个密钥")),
            ),
        ),
    )


def _quick_start() -> rx.Component:
    return card(
        card_title(
            "terminal",
            tr("Quick start", "快速开始"),
            copy_button(KeysState.sample_curl, data_testid="copy-sample-curl"),
        ),
        muted(
            tr(
                "Put your key in AMPHION_API_KEY and synthesize your first sentence. "
                "Keys go in the X-API-Key header (or Authorization: Bearer), "
                "never in the URL.",
                "把密钥放入环境变量 AMPHION_API_KEY，即可合成第一句话。"
                "密钥请放在 X-API-Key 请求头（或 Authorization: Bearer）中，不要放在 URL 里。",
            )
        ),
        _code_block(KeysState.sample_curl, "sample-curl"),
        rx.link(
            rx.hstack(
                rx.text(tr("More examples in the API guide", "更多示例见 API 指南"), size="2"),
                rx.icon("arrow-right", size=14),
                spacing="1",
                align="center",
            ),
            href=routes.DEVELOPERS,
        ),
    )


def _keys() -> rx.Component:
    return app_shell(
        page_header(
            tr("API keys", "API 密钥"),
            tr(
                "Create and manage the keys your applications use to call the API.",
                "创建和管理应用调用 API 所用的密钥。",
            ),
            _create_button(tr("Create key", "创建密钥")),
        ),
        _keys_card(),
        _quick_start(),
        _create_dialog(),
        _reveal_dialog(),
        _rename_dialog(),
        active_href=routes.KEYS,
    )


def keys_page() -> rx.Component:
    return private_page(KeysState, _keys())
