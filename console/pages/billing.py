"""``/billing``: balance, redeeming a code, spend by day / model / key, the ledger, prices."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.common import (
    card,
    card_title,
    empty_state,
    label_badge,
    money,
    muted,
    paged_list,
    stat,
    wide_or_narrow,
)
from console.components.filters import (
    all_when_blank,
    clear_filters_button,
    date_range,
    filter_bar,
    select_with_all,
)
from console.components.forms import form_message, stacked_form
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import (
    narrow_item,
    narrow_list,
    scrolling_table,
    table_header,
)
from console.i18n import tr
from console.pages.history import TYPE_LABELS, type_label
from console.state.billing import SPEND_PERIODS, BillingState

KIND_LABELS = (
    ("signup_bonus", "Welcome credit", "注册赠送"),
    ("grant", "Credit", "充值"),
    ("redeem", "Code redeemed", "兑换码"),
    ("hold", "Reserved", "预扣"),
    ("capture", "Settled", "结算"),
    ("release", "Returned", "退回"),
    ("adjustment", "Adjustment", "调整"),
)
# One colour per chart series, from the theme's scales (they follow dark mode).
SERIES_COLORS = {
    "tts": rx.color("indigo", 9),
    "asr": rx.color("cyan", 9),
    "sed": rx.color("amber", 9),
    "voice": rx.color("crimson", 9),
}


def _kind_badge(kind: rx.Var) -> rx.Component:
    return label_badge(kind, ((k, None, en, zh) for k, en, zh in KIND_LABELS), white_space="nowrap")


def _purpose(row: rx.Var) -> rx.Component:
    """What an operation's hold, capture or release was for, in the reader's language."""
    return rx.text.span(
        rx.match(
            row["purpose"],
            *((t, tr(en.lower(), zh)) for t, en, zh in TYPE_LABELS),
            row["purpose"],
        )
    )


def _key_suffix(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["key_mask"] != "",
        rx.text.span(
            " · ",
            row["key_name"],
            " ",
            rx.code(row["key_mask"], size="1", white_space="nowrap"),
        ),
    )


def _description(row: rx.Var) -> rx.Component:
    return rx.text(
        rx.match(
            row["kind"],
            (
                "signup_bonus",
                rx.text.span(tr("Welcome credit for your new account", "新用户注册赠送额度")),
            ),
            ("redeem", rx.text.span(tr("Redeemed code …", "兑换码 …"), row["code"])),
            ("grant", rx.text.span(tr("Credit added", "平台充值"), " ", row["note"])),
            ("adjustment", rx.text.span(tr("Balance adjustment", "余额调整"), " ", row["note"])),
            (
                "hold",
                rx.text.span(tr("Reserved for ", "预扣："), _purpose(row), _key_suffix(row)),
            ),
            (
                "capture",
                rx.text.span(
                    tr("Charged ¥", "实扣 ¥"),
                    row["charged"],
                    tr(" for ", "，"),
                    _purpose(row),
                    rx.cond(
                        row["refund"] != "",
                        rx.text.span(
                            tr("; ¥", "；退回未用预扣 ¥"),
                            row["refund"],
                            tr(" of the reservation returned", ""),
                        ),
                    ),
                    _key_suffix(row),
                ),
            ),
            (
                "release",
                rx.text.span(
                    tr("Reservation returned: ", "预扣退回："),
                    _purpose(row),
                    tr(" did not complete", "未完成"),
                ),
            ),
            rx.text.span(row["kind"]),
        ),
        size="2",
    )


def _balance_card() -> rx.Component:
    return stat(
        "wallet",
        tr("Available balance", "可用余额"),
        rx.text.span("¥", BillingState.balance),
        note=tr("Prepaid credit in CNY.", "预付费额度（人民币）。"),
        test_id="billing-balance",
    )


def _spend_card() -> rx.Component:
    return stat(
        "receipt",
        rx.text.span(
            tr("Spent in the last ", "近 "), BillingState.spend_days, tr(" days", " 天消费")
        ),
        rx.text.span("¥", BillingState.spend_total),
        note=rx.text.span(BillingState.spend_calls, tr(" charged operations", " 次计费调用")),
        test_id="billing-spend-total",
    )


def _redeem_card() -> rx.Component:
    return card(
        card_title("ticket", tr("Redeem a code", "兑换码充值")),
        stacked_form(
            rx.hstack(
                rx.input(
                    id="redeem-code",
                    name="code",
                    placeholder=tr("Enter your code", "输入兑换码"),
                    auto_complete="off",
                    max_length=64,
                    font_family=styles.MONO_FAMILY,
                    flex="1",
                    min_width="0",
                    aria_label=tr("Redemption code", "兑换码"),
                    data_testid="redeem-input",
                ),
                rx.button(
                    tr("Redeem", "兑换"),
                    type="submit",
                    loading=BillingState.redeeming,
                    data_testid="redeem-submit",
                ),
                spacing="2",
                width="100%",
            ),
            form_message(BillingState.redeem_error, tone="error"),
            on_submit=BillingState.redeem,
            spacing="2",
        ),
        rx.text(
            tr("Each code can be redeemed once.", "每个兑换码仅可使用一次。"),
            size="1",
            color=styles.TEXT_SUBTLE,
        ),
    )


def _chart() -> rx.Component:
    return rx.recharts.responsive_container(
        rx.recharts.bar_chart(
            rx.recharts.cartesian_grid(
                stroke_dasharray="3 3", vertical=False, stroke=rx.color("gray", 5)
            ),
            rx.recharts.x_axis(
                data_key="day", tick_line=False, stroke=rx.color("gray", 9), font_size=11
            ),
            rx.recharts.y_axis(
                tick_line=False, axis_line=False, width=64, stroke=rx.color("gray", 9), font_size=11
            ),
            rx.recharts.graphing_tooltip(
                cursor={"fill": rx.color("gray", 3)},
                content_style={
                    "background": styles.SURFACE,
                    "border": styles.BORDER,
                    "borderRadius": "8px",
                },
            ),
            rx.recharts.legend(icon_type="circle", icon_size=8),
            *(
                rx.recharts.bar(
                    data_key=series,
                    name=tr(en, zh),
                    stack_id="spend",
                    fill=SERIES_COLORS[series],
                    is_animation_active=False,
                )
                for series, en, zh in TYPE_LABELS
            ),
            data=BillingState.chart,
            margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
        ),
        width="100%",
        height=260,
    )


def _spend_report() -> rx.Component:
    return card(
        card_title(
            "chart-column",
            tr("Spend by day (¥)", "每日消费（元）"),
            rx.segmented_control.root(
                *(
                    rx.segmented_control.item(tr(f"{d} days", f"{d} 天"), value=str(d))
                    for d in SPEND_PERIODS
                ),
                value=BillingState.spend_days.to_string(),
                on_change=BillingState.set_spend_days,
                size="1",
                data_testid="spend-period",
            ),
        ),
        rx.box(_chart(), width="100%", data_testid="spend-chart"),
    )


def _breakdown(icon: str, title, rows: rx.Var, name_cell, test_id: str, empty_text) -> rx.Component:
    return card(
        card_title(icon, title),
        rx.cond(
            rows.length() == 0,
            rx.text(empty_text, size="2", color=styles.TEXT_MUTED, padding_y="1rem"),
            scrolling_table(
                rx.table.body(
                    rx.foreach(
                        rows,
                        lambda row: rx.table.row(
                            rx.table.cell(name_cell(row)),
                            rx.table.cell(
                                rx.text(
                                    row["calls"],
                                    tr(rx.cond(row["calls"] == "1", " call", " calls"), " 次"),
                                    size="1",
                                    color=styles.TEXT_MUTED,
                                    white_space="nowrap",
                                )
                            ),
                            rx.table.cell(
                                rx.text(money(row["cost"]), size="2", white_space="nowrap"),
                                text_align="right",
                            ),
                            rx.table.cell(
                                rx.badge(row["share"], variant="soft", color_scheme="gray"),
                                text_align="right",
                            ),
                            data_testid=test_id,
                        ),
                    )
                ),
                size="1",
            ),
        ),
    )


def _by_model() -> rx.Component:
    return _breakdown(
        "boxes",
        tr("By model", "按模型"),
        BillingState.by_model,
        lambda row: rx.text(row["model"], size="2", weight="medium"),
        "spend-by-model",
        tr("No charged operations in this period.", "该时间段内没有计费调用。"),
    )


def _by_key() -> rx.Component:
    return _breakdown(
        "key-round",
        tr("By API key", "按 API 密钥"),
        BillingState.by_key,
        lambda row: rx.cond(
            row["console"] == "1",
            rx.text(tr("Console", "控制台"), size="2", weight="medium"),
            rx.vstack(
                rx.text(row["name"], size="2", weight="medium"),
                rx.code(row["mask"], size="1", variant="ghost", color=styles.TEXT_MUTED),
                spacing="0",
            ),
        ),
        "spend-by-key",
        tr("No charged operations in this period.", "该时间段内没有计费调用。"),
    )


def _ledger_filters() -> rx.Component:
    return filter_bar(
        select_with_all(
            all_when_blank(BillingState.kind),
            BillingState.set_kind,
            *(rx.select.item(tr(en, zh), value=k) for k, en, zh in KIND_LABELS),
            everything=tr("All entries", "全部类型"),
            test_id="ledger-kind-filter",
        ),
        date_range(
            BillingState.since,
            BillingState.set_since,
            BillingState.until,
            BillingState.set_until,
            test_id="ledger",
        ),
        rx.cond(BillingState.filtered, clear_filters_button(BillingState.clear_filters)),
    )


def _amount(row: rx.Var, **props) -> rx.Component:
    return rx.text(
        row["amount"],
        weight="medium",
        style=styles.NUMERIC,
        white_space="nowrap",
        color=rx.cond(row["credit"] == "1", rx.color("green", 11), rx.color("gray", 12)),
        **props,
    )


def _entry(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["time"], size="1", style=styles.NUMERIC, white_space="nowrap")),
        rx.table.cell(_kind_badge(row["kind"])),
        rx.table.cell(_description(row), min_width="14rem"),
        rx.table.cell(_amount(row, size="2"), text_align="right", data_testid="ledger-amount"),
        rx.table.cell(
            rx.text(money(row["balance_after"]), size="2", white_space="nowrap"),
            text_align="right",
        ),
        data_testid="ledger-row",
        data_kind=row["kind"],
        align="center",
    )


def _entry_card(row: rx.Var) -> rx.Component:
    """A ledger line on a narrow screen: what, when, how much, and the balance after."""
    return narrow_item(
        rx.hstack(
            _kind_badge(row["kind"]), _amount(row, size="3"), justify="between", width="100%"
        ),
        _description(row),
        rx.hstack(
            rx.text(row["time"], size="1", color=styles.TEXT_SUBTLE, style=styles.NUMERIC),
            rx.text(
                tr("Balance ", "余额 "),
                money(row["balance_after"]),
                size="1",
                color=styles.TEXT_MUTED,
            ),
            justify="between",
            width="100%",
        ),
        spacing="1",
        data_testid="ledger-card",
    )


def _ledger() -> rx.Component:
    headers = (
        (tr("Time (UTC)", "时间 (UTC)"), "left"),
        (tr("Type", "类型"), "left"),
        (tr("Description", "说明"), "left"),
        (tr("Amount", "金额"), "right"),
        (tr("Balance after", "变动后余额"), "right"),
    )
    return card(
        card_title(
            "list",
            tr("Transactions", "收支明细"),
            rx.button(
                rx.icon("file-down", size=14),
                tr("Export CSV", "导出 CSV"),
                on_click=BillingState.export_csv,
                loading=BillingState.exporting,
                variant="soft",
                size="2",
                data_testid="ledger-export",
            ),
        ),
        _ledger_filters(),
        rx.cond(
            BillingState.total == 0,
            empty_state(
                "receipt",
                tr("No entries", "暂无明细"),
                tr("Nothing matches these filters.", "没有符合筛选条件的记录。"),
            ),
            paged_list(
                BillingState,
                wide_or_narrow(
                    scrolling_table(
                        table_header(
                            *(
                                rx.table.column_header_cell(
                                    h, text_align=align, white_space="nowrap"
                                )
                                for h, align in headers
                            )
                        ),
                        rx.table.body(rx.foreach(BillingState.entries, _entry)),
                        size="2",
                    ),
                    narrow_list(BillingState.entries, _entry_card),
                ),
            ),
        ),
    )


def _prices() -> rx.Component:
    return card(
        card_title("tags", tr("Prices", "价格")),
        muted(
            tr(
                "What each model costs. You are charged only for operations that succeed.",
                "各模型的单价。仅对成功的调用计费。",
            )
        ),
        scrolling_table(
            table_header(
                tr("Model", "模型"),
                tr("Type · unit", "类型 · 计费单位"),
                rx.table.column_header_cell(tr("Price", "单价"), text_align="right"),
            ),
            rx.table.body(
                rx.foreach(
                    BillingState.prices,
                    lambda row: rx.table.row(
                        rx.table.cell(
                            rx.vstack(
                                rx.code(row["model"], size="1", variant="ghost"),
                                rx.text(row["name"], size="1", color=styles.TEXT_MUTED),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(
                            rx.vstack(
                                rx.text(
                                    rx.match(
                                        row["kind"],
                                        ("clone", tr("Voice cloning", "声音复刻")),
                                        type_label(row["kind"]),
                                    ),
                                    size="2",
                                ),
                                rx.text(
                                    tr(row["unit_en"], row["unit_zh"]),
                                    size="1",
                                    color=styles.TEXT_MUTED,
                                ),
                                spacing="0",
                            )
                        ),
                        rx.table.cell(
                            rx.text(money(row["price"]), size="2", white_space="nowrap"),
                            text_align="right",
                        ),
                        data_testid="price-row",
                    ),
                )
            ),
            size="1",
            max_height="28rem",
        ),
    )


def _billing() -> rx.Component:
    return app_shell(
        page_header(
            tr("Billing", "费用中心"),
            tr(
                "Your balance, what you spent and every change to your credit.",
                "余额、消费情况与每一笔额度变动。",
            ),
        ),
        rx.grid(
            _balance_card(),
            _spend_card(),
            _redeem_card(),
            columns=rx.breakpoints(initial="1", md="2", lg="3"),
            spacing="4",
            width="100%",
        ),
        _spend_report(),
        rx.grid(
            _by_model(),
            _by_key(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _ledger(),
        _prices(),
        active_href=routes.BILLING,
    )


def billing_page() -> rx.Component:
    return private_page(BillingState, _billing())
