"""``/admin``: accounts and balances, credit grants and adjustments with a note, redemption
codes (shown once), and the model catalog with each model's price and health.

Administrators only: the state's on-load check sends anyone else away, and each handler checks
the role again on the server.
"""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.common import (
    callout,
    card,
    card_title,
    copy_button,
    empty_state,
    money,
    muted,
    paged_list,
)
from console.components.dialogs import dialog, dialog_form, form_footer
from console.components.forms import form_message, input_field
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import scrolling_table, table_header
from console.i18n import tr
from console.state.admin import MAX_CODES_AT_ONCE, AdminState


def price_unit(unit: rx.Var[str]) -> rx.Component:
    """A price rule's unit in the visitor's language."""
    return rx.match(
        unit,
        ("call", tr(" / call", " / 次")),
        ("1k_characters", tr(" / 1k chars", " / 千字符")),
        ("10k_characters", tr(" / 10k chars", " / 万字符")),
        ("second", tr(" / second", " / 秒")),
        unit,
    )


def _health_badge(status: rx.Var[str]) -> rx.Component:
    return rx.match(
        status,
        ("loaded", rx.badge(tr("Loaded", "已加载"), color_scheme="green", variant="soft")),
        ("available", rx.badge(tr("Available", "可用"), color_scheme="green", variant="surface")),
        ("configured", rx.badge(tr("Configured", "已配置"), color_scheme="blue", variant="soft")),
        (
            "not_configured",
            rx.badge(tr("Not configured", "未配置"), color_scheme="gray", variant="soft"),
        ),
        (
            "circuit_open",  # the provider kept failing; requests are refused for a while
            rx.badge(tr("Circuit open", "熔断中"), color_scheme="orange", variant="soft"),
        ),
        rx.badge(tr("Missing", "缺失"), color_scheme="red", variant="soft"),
    )


def _account_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(row["email"], weight="medium", white_space="nowrap"),
            data_testid="account-email",
        ),
        rx.table.cell(
            rx.cond(
                row["role"] == "admin",
                rx.badge(tr("Admin", "管理员"), color_scheme="indigo", variant="soft"),
                rx.badge(tr("User", "用户"), color_scheme="gray", variant="soft"),
            )
        ),
        rx.table.cell(
            money(row["balance"]),
            white_space="nowrap",
            data_testid="account-balance",
        ),
        rx.table.cell(row["joined"], white_space="nowrap", style=styles.NUMERIC),
        rx.table.cell(
            rx.button(
                rx.icon("coins", size=14),
                tr("Credit", "调整额度"),
                size="1",
                variant="soft",
                on_click=AdminState.open_credit(row["id"]),
                data_testid="open-credit",
            )
        ),
        data_testid="account-row",
    )


def _accounts() -> rx.Component:
    search = rx.form(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                name="query",
                placeholder=tr("Search by e-mail", "按邮箱搜索"),
                default_value=AdminState.query,
                size="2",
                width="100%",
                max_length=320,
                data_testid="account-search",
            ),
            rx.button(tr("Search", "搜索"), type="submit", size="2", variant="soft"),
            spacing="2",
            width="100%",
        ),
        on_submit=AdminState.search,
        reset_on_submit=False,
        width="100%",
        max_width="28rem",
    )
    table = scrolling_table(
        table_header(
            tr("E-mail", "邮箱"),
            tr("Role", "角色"),
            tr("Balance", "余额"),
            tr("Joined", "注册日期"),
            "",
        ),
        rx.table.body(rx.foreach(AdminState.accounts, _account_row)),
        size="1",
    )
    return card(
        card_title("users", tr("Accounts", "用户账户")),
        search,
        rx.cond(
            AdminState.accounts.length() > 0,
            paged_list(AdminState, table),
            empty_state(
                "user-search",
                tr("No matching accounts", "没有匹配的账户"),
                tr("Try another part of the e-mail address.", "换一个邮箱关键词试试。"),
            ),
        ),
        data_testid="accounts",
    )


def _credit_dialog() -> rx.Component:
    return dialog(
        tr("Grant or adjust credit", "发放或调整额度"),
        rx.dialog.description(
            tr("For ", "账户："),
            rx.text.strong(AdminState.credit_email, data_testid="credit-email"),
            tr(
                ". A positive amount grants credit; a negative one takes it back "
                "(never below zero).",
                "。正数为发放额度，负数为扣回（余额不会低于零）。",
            ),
            size="2",
        ),
        dialog_form(
            input_field(
                tr("Amount (¥)", "金额（元）"),
                "credit-amount",
                name="amount",
                placeholder="10.00",
                input_mode="decimal",
                required=True,
            ),
            input_field(
                tr("Note", "备注"),
                "credit-note",
                area=True,
                name="note",
                placeholder=tr("Why, for the ledger", "原因，将记入账本"),
                required=True,
                max_length=500,
            ),
            form_message(AdminState.credit_error, tone="error"),
            form_footer(tr("Apply", "确认"), test_id="apply-credit", loading=AdminState.busy),
            on_submit=AdminState.change_credit,
            width="100%",
            margin_top="1rem",
        ),
        open=AdminState.credit_open,
        on_open_change=AdminState.set_credit_open,
        max_width="30rem",
    )


def _minted_codes() -> rx.Component:
    return rx.vstack(
        callout(
            "triangle-alert",
            tr(
                rx.fragment(
                    "Each code is worth ¥",
                    AdminState.minted_amount,
                    ". Copy them now: they are never shown again.",
                ),
                rx.fragment(
                    "每个兑换码面值 ¥",
                    AdminState.minted_amount,
                    "。请立即复制：之后不会再显示。",
                ),
            ),
            color="amber",
            size="1",
        ),
        rx.box(
            rx.foreach(
                AdminState.minted_codes,
                lambda code: rx.text(
                    code, font_family=styles.MONO_FAMILY, size="2", data_testid="minted-code"
                ),
            ),
            padding="0.75rem 1rem",
            border=styles.BORDER,
            border_radius="var(--radius-3)",
            background=rx.color("gray", 2),
            max_height="14rem",
            overflow_y="auto",
            width="100%",
        ),
        rx.hstack(
            copy_button(
                AdminState.minted_text, label=tr("Copy all", "全部复制"), data_testid="copy-codes"
            ),
            rx.button(
                tr("Done", "完成"),
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=AdminState.dismiss_codes,
            ),
            spacing="2",
        ),
        spacing="3",
        width="100%",
        data_testid="minted-codes",
    )


def _codes() -> rx.Component:
    return card(
        card_title("ticket", tr("Redemption codes", "兑换码")),
        muted(
            tr(
                "Mint codes that add credit when a user redeems them in Billing.",
                "生成兑换码，用户在费用中心兑换后即可获得额度。",
            )
        ),
        rx.form(
            rx.grid(
                input_field(
                    tr("Value each (¥)", "单个面值（元）"),
                    "codes-amount",
                    name="amount",
                    placeholder="50",
                    input_mode="decimal",
                    required=True,
                ),
                input_field(
                    tr("How many", "数量"),
                    "codes-count",
                    name="count",
                    type="number",
                    default_value="1",
                    min=1,
                    max=MAX_CODES_AT_ONCE,
                    required=True,
                ),
                input_field(
                    tr("Batch label (optional)", "批次标签（可选）"),
                    "codes-batch",
                    name="batch",
                    placeholder=tr("e.g. launch-week", "例如 launch-week"),
                    max_length=64,
                ),
                rx.button(
                    rx.icon("plus", size=14),
                    tr("Create codes", "生成兑换码"),
                    type="submit",
                    loading=AdminState.busy,
                    align_self="end",
                    data_testid="create-codes",
                ),
                columns=rx.breakpoints(initial="1", md="4"),
                spacing="3",
                width="100%",
            ),
            on_submit=AdminState.create_codes,
            reset_on_submit=False,
            width="100%",
        ),
        form_message(AdminState.codes_error, tone="error"),
        rx.cond(AdminState.minted_codes.length() > 0, _minted_codes()),
    )


def _model_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(row["id"], variant="ghost", size="1"), white_space="nowrap"),
        rx.table.cell(rx.badge(row["kind"], variant="soft", color_scheme="gray")),
        rx.table.cell(
            rx.cond(row["provider"] == "offline", tr("Offline", "离线"), row["provider"]),
            white_space="nowrap",
        ),
        rx.table.cell(rx.text(row["engine"], size="1", color=styles.TEXT_MUTED)),
        rx.table.cell(
            rx.text.span("¥", row["price"], price_unit(row["unit"]), style=styles.NUMERIC),
            white_space="nowrap",
        ),
        rx.table.cell(
            rx.vstack(
                _health_badge(row["status"]),
                rx.cond(
                    row["missing"] != "",
                    rx.text(row["missing"], size="1", color=rx.color("red", 11)),
                ),
                spacing="1",
            ),
            data_testid="model-health",
        ),
        data_testid="model-row",
    )


def _catalog() -> rx.Component:
    return card(
        card_title(
            "cpu",
            tr("Models, prices and engine health", "模型、价格与引擎状态"),
            rx.badge(
                AdminState.healthy_models,
                " / ",
                AdminState.catalog.length(),
                tr(" can serve", " 可用"),
                variant="soft",
                color_scheme="green",
                data_testid="healthy-count",
            ),
        ),
        muted(
            tr(
                "Checked without loading engines or calling providers: offline engines by their "
                "installed packages, hosted models by their provider configuration.",
                "检查不会加载引擎或访问外部服务：离线引擎看依赖包是否已安装，托管模型看服务商是否已配置。",
            )
        ),
        scrolling_table(
            table_header(
                tr("Model", "模型"),
                tr("Kind", "类型"),
                tr("Provider", "服务商"),
                tr("Engine", "引擎"),
                tr("Price", "价格"),
                tr("Health", "状态"),
            ),
            rx.table.body(rx.foreach(AdminState.catalog, _model_row)),
            size="1",
        ),
        data_testid="catalog",
    )


def _admin() -> rx.Component:
    return app_shell(
        page_header(
            tr("Admin", "管理后台"),
            tr(
                "Accounts, credit, redemption codes and the model catalog.",
                "用户、额度、兑换码与模型目录。",
            ),
        ),
        _accounts(),
        _codes(),
        _catalog(),
        _credit_dialog(),
        active_href=routes.ADMIN,
    )


def admin_page() -> rx.Component:
    return private_page(AdminState, _admin(), admin=True)
