import requests

resp = requests.post(
    "https://api.amphion.example.com/tts/v1/audio/speech",
    headers={"X-API-Key": "sk-your-api-key"},
    json={
        "model": "Qwen3-TTS",
        "input": "你好,欢迎使用 Amphion 开放平台。",
        "voice": "default",
    },
)

with open("output.mp3", "wb") as f:
    f.write(resp.content)

print(f"Status: {resp.status_code}, Size: {len(resp.content)} bytes")
