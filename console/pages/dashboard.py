"""``/dashboard``: balance, this month's spend, 30 days of usage, recent activity, quick links.

A brand-new account is greeted with its welcome credit; a balance under the threshold gets a
warning with the way to top up. Signed-in visitors only (the state's on-load check).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from console import routes, styles
from console.components.common import (
    callout,
    card,
    card_title,
    empty_state,
    money,
    playground_button,
    stat,
)
from console.components.layout import app_shell, page_header, private_page
from console.components.tables import scrolling_table, table_header
from console.i18n import tr
from console.pages.history import type_label
from console.state.dashboard import CHART_DAYS, DashboardState


def status_badge(status: rx.Var[str]) -> rx.Component:
    """A record's status as a coloured badge."""
    return rx.match(
        status,
        ("succeeded", rx.badge(tr("Succeeded", "成功"), color_scheme="green", variant="soft")),
        ("failed", rx.badge(tr("Failed", "失败"), color_scheme="red", variant="soft")),
        ("cancelled", rx.badge(tr("Cancelled", "已取消"), color_scheme="gray", variant="soft")),
        rx.badge(tr("In progress", "进行中"), color_scheme="amber", variant="soft"),
    )


def _welcome() -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.hstack(
                rx.icon("party-popper", size=18),
                rx.text(tr("Welcome to Amphion", "欢迎使用 Amphion"), size="4", weight="bold"),
                spacing="2",
                align="center",
            ),
            rx.text(
                tr(
                    rx.fragment(
                        "Your account is ready. We have added ",
                        rx.text.strong("¥", DashboardState.welcome_credit),
                        " of starter credit, so you can make your first requests right away.",
                    ),
                    rx.fragment(
                        "账户已就绪。我们已为你充值 ",
                        rx.text.strong("¥", DashboardState.welcome_credit),
                        " 的体验额度，现在就可以发起第一个请求。",
                    ),
                ),
                size="2",
                color="rgba(238, 242, 255, 0.9)",
            ),
            spacing="2",
        ),
        rx.link(
            rx.button(
                tr("Open the API guide", "查看 API 指南"),
                rx.icon("arrow-right", size=14),
                size="2",
                variant="solid",
                background="white",
                color=rx.color("accent", 11),
                _hover={"background": rx.color("accent", 2)},
            ),
            href=routes.DEVELOPERS,
            flex_shrink="0",
        ),
        direction=rx.breakpoints(initial="column", md="row"),
        gap="4",
        justify="between",
        align=rx.breakpoints(initial="start", md="center"),
        padding="1.5rem",
        border_radius="var(--radius-4)",
        background=styles.BRAND_GRADIENT,
        color="white",
        box_shadow=styles.SHADOW_RAISED,
        width="100%",
        data_testid="welcome",
    )


def _low_balance_warning() -> rx.Component:
    return callout(
        "triangle-alert",
        tr(
            rx.fragment(
                "Your balance is below ¥",
                DashboardState.low_balance_threshold,
                ". Requests fail once it runs out: ",
                rx.link("redeem a code or see billing", href=routes.BILLING, weight="medium"),
                ".",
            ),
            rx.fragment(
                "余额已低于 ¥",
                DashboardState.low_balance_threshold,
                "，用完后请求将失败。",
                rx.link("前往费用中心兑换充值码", href=routes.BILLING, weight="medium"),
                "。",
            ),
        ),
        color="amber",
        role="alert",
        data_testid="low-balance",
    )


def _figures() -> rx.Component:
    return rx.grid(
        stat(
            "wallet",
            tr("Available balance", "可用余额"),
            f"¥{DashboardState.balance}",
            note=tr("Prepaid credit in CNY.", "人民币预付额度。"),
            test_id="balance",
        ),
        stat(
            "receipt",
            tr("Spent this month", "本月消费"),
            f"¥{DashboardState.month_spend}",
            note=tr("Succeeded requests, UTC month.", "成功的请求，按 UTC 月计。"),
            test_id="month-spend",
        ),
        stat(
            "activity",
            tr("Calls this month", "本月调用"),
            DashboardState.month_calls,
            note=tr(
                rx.fragment("Member since ", DashboardState.member_since),
                rx.fragment("注册于 ", DashboardState.member_since),
            ),
            test_id="month-calls",
        ),
        columns=rx.breakpoints(initial="1", sm="3"),
        spacing="4",
        width="100%",
    )


# Axis labels in the page's small text size and muted colour.
_TICKS = {"fontSize": 12, "fill": styles.TEXT_SUBTLE}


def _bar_chart(metric: str, name: Any) -> rx.Component:
    return rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
        rx.recharts.x_axis(
            data_key="day", interval="preserveStartEnd", tick_line=False, tick=_TICKS
        ),
        rx.recharts.y_axis(
            allow_decimals=metric == "seconds", width=44, tick_line=False, tick=_TICKS
        ),
        rx.recharts.graphing_tooltip(cursor={"fill": rx.color("accent", 3)}),
        # No grow-in animation: the figures are the point, and a screenshot shows them at once.
        rx.recharts.bar(
            data_key=metric,
            name=name,
            fill=rx.color("accent", 9),
            radius=3,
            is_animation_active=False,
        ),
        data=DashboardState.usage,
        width="100%",
        height=240,
        margin={"top": 8, "right": 8, "left": 0, "bottom": 0},
    )


def _usage_chart() -> rx.Component:
    series = (
        ("calls", tr("Calls", "调用次数")),
        ("characters", tr("Characters", "字符数")),
        ("seconds", tr("Audio seconds", "音频秒数")),
    )
    return card(
        card_title(
            "chart-column",
            tr(f"Usage, last {CHART_DAYS} days", f"近 {CHART_DAYS} 天用量"),
        ),
        rx.cond(
            DashboardState.has_usage,
            rx.tabs.root(
                rx.tabs.list(
                    *(rx.tabs.trigger(label, value=metric) for metric, label in series),
                    size="1",
                ),
                *(
                    rx.tabs.content(_bar_chart(metric, label), value=metric, padding_top="1rem")
                    for metric, label in series
                ),
                default_value="calls",
                width="100%",
            ),
            empty_state(
                "chart-column",
                tr("No usage yet", "暂无用量"),
                tr(
                    "Try the playground or the API: calls, characters and audio seconds "
                    "show here by day.",
                    "去体验中心或通过 API 试一试：每天的调用次数、字符数和音频秒数会显示在这里。",
                ),
            ),
        ),
        data_testid="usage-chart",
    )


def _quick_link(icon: str, title: Any, text: Any, href: str, test_id: str) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.center(
                rx.icon(icon, size=16),
                width="2rem",
                height="2rem",
                min_width="2rem",
                border_radius="var(--radius-3)",
                background=rx.color("accent", 3),
                color=rx.color("accent", 11),
            ),
            rx.vstack(
                rx.text(title, size="2", weight="medium", color=rx.color("gray", 12)),
                rx.text(text, size="1", color=styles.TEXT_MUTED),
                spacing="0",
            ),
            spacing="3",
            align="center",
            padding="0.5rem",
            border_radius="var(--radius-3)",
            _hover={"background": rx.color("gray", 3)},
            width="100%",
        ),
        href=href,
        underline="none",
        width="100%",
        data_testid=test_id,
    )


def _quick_links() -> rx.Component:
    return card(
        card_title("zap", tr("Quick links", "快捷入口")),
        rx.vstack(
            _quick_link(
                "audio-waveform",
                tr("Playground", "体验中心"),
                tr("Synthesize, transcribe, analyze.", "合成、识别、情感分析。"),
                routes.PLAYGROUND,
                "link-playground",
            ),
            _quick_link(
                "wand-sparkles",
                tr("Clone a voice", "复刻声音"),
                tr("From a short sample.", "只需一段简短录音。"),
                routes.CLONE,
                "link-clone",
            ),
            _quick_link(
                "key-round",
                tr("API keys", "API 密钥"),
                tr("Create and manage keys.", "创建和管理密钥。"),
                routes.KEYS,
                "link-keys",
            ),
            _quick_link(
                "code-xml",
                tr("API guide", "API 指南"),
                tr("Examples with your key.", "带你的密钥的示例。"),
                routes.DEVELOPERS,
                "link-docs",
            ),
            spacing="1",
            width="100%",
        ),
    )


def _activity_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    usage = rx.cond(
        row["unit"] == "chars",
        rx.text.span(row["amount"], tr(" chars", " 字符")),
        rx.cond(row["unit"] == "s", rx.text.span(row["amount"], tr(" s", " 秒")), "—"),
    )
    return rx.table.row(
        rx.table.cell(row["when"], white_space="nowrap", style=styles.NUMERIC),
        rx.table.cell(type_label(row["type"]), white_space="nowrap"),
        rx.table.cell(rx.code(row["model"], variant="ghost", size="1"), white_space="nowrap"),
        rx.table.cell(usage, white_space="nowrap"),
        rx.table.cell(money(row["cost"]), white_space="nowrap"),
        rx.table.cell(status_badge(row["status"])),
        data_testid="activity-row",
    )


def _recent_activity() -> rx.Component:
    header = table_header(
        tr("Time (UTC)", "时间（UTC）"),
        tr("Operation", "操作"),
        tr("Model", "模型"),
        tr("Usage", "用量"),
        tr("Cost", "费用"),
        tr("Status", "状态"),
    )
    return card(
        card_title(
            "history",
            tr("Recent activity", "最近操作"),
            rx.link(tr("All history", "全部记录"), href=routes.HISTORY, size="2"),
        ),
        rx.cond(
            DashboardState.recent.length() > 0,
            scrolling_table(
                header,
                rx.table.body(rx.foreach(DashboardState.recent, _activity_row)),
                size="1",
            ),
            empty_state(
                "history",
                tr("No activity yet", "还没有操作记录"),
                tr(
                    "Every synthesis, transcription and analysis you run appears here.",
                    "你的每一次合成、识别和分析都会显示在这里。",
                ),
                playground_button(),
            ),
        ),
        data_testid="recent-activity",
    )


def _overview() -> rx.Component:
    return app_shell(
        page_header(
            tr("Overview", "概览"),
            tr("Your balance, usage and recent activity.", "你的余额、用量和最近操作。"),
        ),
        rx.cond(DashboardState.just_joined, _welcome()),
        rx.cond(DashboardState.balance_low, _low_balance_warning()),
        _figures(),
        rx.grid(
            rx.box(_usage_chart(), grid_column=rx.breakpoints(initial="auto", lg="span 2")),
            _quick_links(),
            columns=rx.breakpoints(initial="1", lg="3"),
            spacing="4",
            width="100%",
        ),
        _recent_activity(),
        active_href=routes.DASHBOARD,
    )


def dashboard_page() -> rx.Component:
    return private_page(DashboardState, _overview())
