"""``/settings``: profile, password, own provider keys and language of the signed-in user."""

from __future__ import annotations

import reflex as rx

from console import routes, styles
from console.components.common import card, card_title, confirm_dialog, empty_state, labelled, muted
from console.components.forms import field, form_message, stacked_form
from console.components.layout import app_shell, page_header, private_page
from console.i18n import CHINESE, ENGLISH, LocaleState, tr
from console.state.settings import PASSWORD_FORM_ID, SettingsState

# The new password as typed so far, read in the browser when the confirmation is left.
_NEW_PASSWORD_IN_FORM = rx.Var("(document.getElementById('new-password')?.value ?? '')").to(str)


def _fact(label: object, value: rx.Component) -> rx.Component:
    return labelled(label, value, spacing="1", min_width="0")


def _profile() -> rx.Component:
    return card(
        card_title("circle-user", tr("Profile", "个人资料")),
        rx.grid(
            _fact(
                tr("E-mail", "电子邮箱"),
                rx.text(
                    SettingsState.email,
                    size="3",
                    weight="medium",
                    overflow_wrap="anywhere",
                    data_testid="profile-email",
                ),
            ),
            _fact(
                tr("Member since", "注册时间"),
                rx.text(SettingsState.member_since, size="3", weight="medium"),
            ),
            _fact(
                tr("Role", "角色"),
                rx.box(
                    rx.cond(
                        SettingsState.is_admin,
                        rx.badge(tr("Administrator", "管理员"), color_scheme="violet"),
                        rx.badge(tr("Member", "普通用户"), color_scheme="gray"),
                    )
                ),
            ),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
    )


def _password_input(control_id: str, placeholder: object, autocomplete: str, **events):
    return rx.input(
        id=control_id,
        name=control_id.replace("-", "_"),
        type="password",
        placeholder=placeholder,
        auto_complete=autocomplete,
        width="100%",
        data_testid=control_id,
        **events,
    )


def _password() -> rx.Component:
    return card(
        card_title("lock-keyhole", tr("Password", "登录密码")),
        muted(
            tr(
                "Changing it signs you out everywhere else; this browser stays signed in.",
                "修改后，其他设备上的登录会全部退出，当前浏览器保持登录。",
            )
        ),
        form_message(SettingsState.form_error, tone="error"),
        stacked_form(
            # Lets a password manager file the new password under the right account.
            rx.el.input(
                type="email",
                name="username",
                auto_complete="username",
                value=SettingsState.email,
                read_only=True,
                hidden=True,
            ),
            field(
                tr("Current password", "当前密码"),
                _password_input(
                    "current-password",
                    tr("Your current password", "当前使用的密码"),
                    "current-password",
                ),
                control_id="current-password",
                error=SettingsState.current_error,
            ),
            rx.grid(
                field(
                    tr("New password", "新密码"),
                    _password_input(
                        "new-password",
                        tr("At least 8 characters", "至少 8 个字符"),
                        "new-password",
                        on_blur=SettingsState.check_new_password,
                    ),
                    control_id="new-password",
                    error=SettingsState.new_error,
                    success=SettingsState.new_ok,
                ),
                field(
                    tr("Confirm new password", "确认新密码"),
                    _password_input(
                        "confirm-password",
                        tr("Type it again", "再输入一次"),
                        "new-password",
                        on_blur=lambda value: SettingsState.check_confirmation(
                            value, _NEW_PASSWORD_IN_FORM
                        ),
                    ),
                    control_id="confirm-password",
                    error=SettingsState.confirm_error,
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.button(
                tr("Change password", "修改密码"),
                type="submit",
                loading=SettingsState.changing,
                data_testid="change-password",
            ),
            id=PASSWORD_FORM_ID,
            on_submit=SettingsState.change_password,
            max_width="40rem",
        ),
    )


def _provider_status(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["is_set"] == "1",
        rx.hstack(
            rx.badge(
                rx.icon("check", size=12),
                tr("Set", "已设置"),
                color_scheme="green",
                variant="soft",
                radius="full",
            ),
            rx.code("••••", row["last4"], size="1", variant="ghost"),
            rx.text(
                tr("updated ", "更新于 "),
                row["updated"],
                size="1",
                color=styles.TEXT_SUBTLE,
            ),
            confirm_dialog(
                rx.button(
                    tr("Remove", "移除"),
                    variant="ghost",
                    color_scheme="red",
                    size="1",
                    data_testid="remove-provider-key",
                ),
                title=tr("Remove this key?", "移除该密钥？"),
                text=tr(
                    "Models that need your own key stop working until you add one again.",
                    "需要自有密钥的模型将无法使用，直到你重新添加。",
                ),
                confirm_label=tr("Remove key", "移除密钥"),
                on_confirm=SettingsState.remove_provider_key(row["provider"]),
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.badge(tr("Not set", "未设置"), color_scheme="gray", variant="soft", radius="full"),
    )


def _provider_row(row: rx.Var) -> rx.Component:
    provider = row["provider"].to(str)
    error = SettingsState.key_errors.get(provider, "").to(str)
    return rx.vstack(
        rx.flex(
            rx.vstack(
                rx.text(tr(row["name_en"], row["name_zh"]), size="3", weight="medium"),
                rx.text(
                    tr("Models: ", "模型："),
                    row["models"],
                    size="1",
                    color=styles.TEXT_MUTED,
                ),
                spacing="1",
            ),
            _provider_status(row),
            direction=rx.breakpoints(initial="column", sm="row"),
            justify="between",
            align=rx.breakpoints(initial="start", sm="center"),
            gap="2",
            width="100%",
        ),
        rx.form(
            # The provider rides in the form: a submit handler cannot see the list's row.
            rx.el.input(type="hidden", name="provider", value=provider),
            rx.flex(
                rx.input(
                    name="api_key",
                    type="password",
                    placeholder=rx.cond(
                        row["is_set"] == "1",
                        tr("Paste a new key to replace it", "粘贴新密钥以替换"),
                        tr("Paste your API key", "粘贴你的 API 密钥"),
                    ),
                    auto_complete="off",
                    width="100%",
                    flex="1",
                    data_testid="provider-key-input",
                ),
                rx.button(
                    tr("Save key", "保存密钥"),
                    type="submit",
                    loading=SettingsState.saving_provider == provider,
                    data_testid="save-provider-key",
                ),
                gap="2",
                direction=rx.breakpoints(initial="column", sm="row"),
                width="100%",
            ),
            id=f"provider-form-{provider}",
            on_submit=SettingsState.save_provider_key,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(error != "", rx.text(error, size="2", color=rx.color("red", 11), role="alert")),
        spacing="3",
        width="100%",
        padding="1rem",
        border=styles.BORDER,
        border_radius="var(--radius-3)",
        data_testid="provider-row",
    )


def _provider_keys() -> rx.Component:
    return card(
        card_title("plug", tr("Your own provider keys", "自有服务商密钥")),
        muted(
            tr(
                "Some models run on a hosted provider with your own account there. Your key is "
                "stored encrypted and is never shown again: only its last four characters.",
                "部分模型通过你自己的服务商账户调用。密钥加密存储，保存后不再显示，仅显示末尾四位。",
            )
        ),
        rx.cond(
            SettingsState.has_providers,
            rx.vstack(
                rx.foreach(SettingsState.providers, _provider_row), spacing="3", width="100%"
            ),
            empty_state(
                "plug",
                tr("No model needs your own key", "暂无需要自有密钥的模型"),
                tr(
                    "Every model on this server runs on the platform's own engines or keys. "
                    "If the operator marks a model “bring your own key”, add your key here.",
                    "本服务器上的所有模型都使用平台自己的引擎或密钥。"
                    "若运营方将某个模型设为“自带密钥”，可在此添加你的密钥。",
                ),
            ),
        ),
    )


def _language() -> rx.Component:
    return card(
        card_title("languages", tr("Language", "语言")),
        rx.flex(
            muted(
                tr("The console is shown in ", "控制台当前显示为"),
                rx.text.strong(tr("English", "简体中文"), data_testid="current-language"),
                tr(".", "。"),
            ),
            rx.segmented_control.root(
                rx.segmented_control.item("English", value=ENGLISH, data_testid="language-en"),
                rx.segmented_control.item("简体中文", value=CHINESE, data_testid="language-zh"),
                value=LocaleState.lang,
                on_change=lambda value: LocaleState.set_language(value.to(str)),
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            justify="between",
            align=rx.breakpoints(initial="start", sm="center"),
            gap="3",
            width="100%",
        ),
    )


def _settings() -> rx.Component:
    return app_shell(
        page_header(
            tr("Settings", "设置"),
            tr("Your profile, sign-in and preferences.", "管理个人资料、登录安全与偏好。"),
        ),
        _profile(),
        _password(),
        _provider_keys(),
        _language(),
        active_href=routes.SETTINGS,
    )


def settings_page() -> rx.Component:
    return private_page(SettingsState, _settings())
