"""The account API end to end over HTTP: sign-up, login token, cookie, keys, billing, admin."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.accounts import service as accounts
from api.accounts.service import SESSION_COOKIE
from api.db import Database
from api.history import service as history
from api.http.context import AppContext
from tests.helpers import PASSWORD
from tests.http.conftest import SignUp


def test_sign_up_sets_an_httponly_cookie_and_grants_100(client: TestClient) -> None:
    response = client.post(
        "/api/auth/signup", json={"email": "Cookie@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200 and body["message"] == "success"
    assert body["data"]["user"]["balance"] == "100.0000"
    assert body["data"]["token_type"] == "Bearer"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    account = client.get("/api/account").json()["data"]  # via the cookie
    assert account == {**account, "email": "cookie@example.com", "role": "user"}
    assert account["balance"] == "100.0000"


def test_login_token_works_as_bearer_and_logout_kills_it(client: TestClient) -> None:
    client.post("/api/auth/signup", json={"email": "bearer@example.com", "password": PASSWORD})
    client.cookies.clear()
    login = client.post(
        "/api/auth/login", json={"email": "bearer@example.com", "password": PASSWORD}
    )
    token = login.json()["data"]["token"]
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/account", headers=headers).status_code == 200
    assert client.post("/api/auth/logout", headers=headers).status_code == 200
    gone = client.get("/api/account", headers=headers)
    assert gone.status_code == 401 and gone.json()["code"] == 401


def test_wrong_password_and_unknown_email_answer_alike(client: TestClient) -> None:
    client.post("/api/auth/signup", json={"email": "same@example.com", "password": PASSWORD})
    wrong = client.post("/api/auth/login", json={"email": "same@example.com", "password": "x" * 12})
    unknown = client.post(
        "/api/auth/login", json={"email": "nope@example.com", "password": "x" * 12}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_sign_in_and_sign_up_throttling_answer_429_with_retry_after(
    client: TestClient, context: AppContext
) -> None:
    context.settings.signin_limit_per_15min = 3
    for _ in range(3):
        client.post("/api/auth/login", json={"email": "a@example.com", "password": "wrong one"})
    throttled = client.post("/api/auth/login", json={"email": "b@example.com", "password": "x"})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["code"] == 429

    context.settings.signup_limit_per_hour = 1
    client.post("/api/auth/signup", json={"email": "one@example.com", "password": PASSWORD})
    second = client.post(
        "/api/auth/signup", json={"email": "two@example.com", "password": PASSWORD}
    )
    assert second.status_code == 429 and "retry-after" in second.headers


def test_key_lifecycle_over_http(client: TestClient, sign_up: SignUp) -> None:
    owner = sign_up()
    created = client.post(
        "/api/keys",
        headers=owner,
        json={"name": "ci", "scopes": ["tts", "history"], "spend_cap": "2.50", "rpm_limit": 60},
    ).json()["data"]
    plaintext = created["key"]
    assert (
        plaintext.startswith("sk-") and created["key_masked"] == f"{plaintext[:5]}…{plaintext[-4:]}"
    )
    assert created["spend_cap"] == "2.5000" and created["scopes"] == ["tts", "history"]

    listed = client.get("/api/keys", headers=owner).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and plaintext not in str(listed)

    as_key = {"X-API-Key": plaintext}
    assert client.get("/api/account", headers=as_key).status_code == 200
    assert (
        client.get("/api/account", headers={"Authorization": f"Bearer {plaintext}"}).status_code
        == 200
    )
    assert client.get("/api/keys", headers=as_key).status_code == 403  # keys cannot mint keys

    renamed = client.patch(f"/api/keys/{created['id']}", headers=owner, json={"name": "prod"})
    assert renamed.json()["data"]["name"] == "prod"
    uncapped = client.patch(f"/api/keys/{created['id']}", headers=owner, json={"spend_cap": None})
    assert uncapped.json()["data"]["spend_cap"] is None

    revoked = client.delete(f"/api/keys/{created['id']}", headers=owner).json()["data"]
    assert revoked["status"] == "revoked"
    denied = client.get("/api/account", headers=as_key)
    assert denied.status_code == 403 and "revoked" in denied.json()["message"]


def test_key_in_query_string_is_refused(client: TestClient, sign_up: SignUp) -> None:
    owner = sign_up()
    key = client.post("/api/keys", headers=owner, json={"name": "q"}).json()["data"]["key"]
    refused = client.get(f"/api/account?api_key={key}")
    assert refused.status_code == 400


def test_rpm_limit_is_enforced(client: TestClient, sign_up: SignUp) -> None:
    owner = sign_up()
    key = client.post("/api/keys", headers=owner, json={"rpm_limit": 2}).json()["data"]["key"]
    codes = [client.get("/api/account", headers={"X-API-Key": key}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_ledger_usage_and_history(client: TestClient, sign_up: SignUp, db: Database) -> None:
    owner = sign_up()
    account = client.get("/api/account", headers=owner).json()["data"]
    with db.write() as session:
        for chars in (10, 20):
            history.record(
                session,
                user_id=account["id"],
                type="tts",
                model="cosyvoice-v2",
                characters=chars,
                duration_ms=1500,
                cost_micros=10_000,
            )
    ledger_page = client.get("/api/billing/ledger", headers=owner).json()["data"]
    assert ledger_page["balance"] == "100.0000"
    assert [e["kind"] for e in ledger_page["items"]] == ["signup_bonus"]
    bonus_only = client.get("/api/billing/ledger?kind=grant", headers=owner).json()["data"]
    assert bonus_only["total"] == 0

    usage = client.get("/api/billing/usage?group_by=model", headers=owner).json()["data"]
    assert usage["total_calls"] == 2 and usage["total_cost"] == "0.0200"
    assert usage["days"][0]["group"] == "cosyvoice-v2" and usage["days"][0]["characters"] == 30

    records = client.get("/api/history?type=tts", headers=owner).json()["data"]
    assert records["total"] == 2 and records["items"][0]["bill"] == "0.0100"
    one = client.get(f"/api/history/{records['items'][0]['id']}", headers=owner).json()["data"]
    assert one["source"] == "console"


def test_redeem_and_admin_operations(
    client: TestClient, sign_up: SignUp, db: Database, context: AppContext
) -> None:
    user = sign_up("member@example.com")
    assert (
        client.post("/api/admin/codes", headers=user, json={"amount": "5", "count": 1}).status_code
        == 403
    )
    accounts.register_user(
        db, context.settings, email="boss@example.com", password=PASSWORD, admin=True
    )
    login = client.post("/api/auth/login", json={"email": "boss@example.com", "password": PASSWORD})
    client.cookies.clear()
    admin = {"Authorization": f"Bearer {login.json()['data']['token']}"}

    minted = client.post("/api/admin/codes", headers=admin, json={"amount": "5", "count": 2}).json()
    code = minted["data"]["codes"][0]
    first = client.post("/api/billing/redeem", headers=user, json={"code": code}).json()
    assert first["data"] == {"amount": "5.0000", "balance": "105.0000"}
    again = client.post("/api/billing/redeem", headers=user, json={"code": code})
    assert again.status_code == 400

    granted = client.post(
        "/api/admin/credit",
        headers=admin,
        json={"email": "member@example.com", "amount": "-105", "note": "test"},
    ).json()["data"]
    assert granted["balance"] == "0.0000" and granted["kind"] == "adjustment"
    below = client.post(
        "/api/admin/credit",
        headers=admin,
        json={"email": "member@example.com", "amount": "-0.01", "note": "x"},
    )
    assert below.status_code == 403
    users = client.get("/api/admin/users?q=member", headers=admin).json()["data"]
    assert users["total"] == 1 and users["items"][0]["balance"] == "0.0000"


def test_docs_are_served_without_any_cdn(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200 and "/openapi.json" in html.text
        assert "https://" not in html.text and "http://" not in html.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert client.get(f"/docs-assets/{asset}").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/auth/login" in spec["paths"] and "/api/keys/{key_id}" in spec["paths"]
