import requests

with open("audio.wav", "rb") as f:
    resp = requests.post(
        "https://api.amphion.example.com/sed/v1/audio/analyze",
        headers={"X-API-Key": "sk-your-api-key"},
        files={"file": ("audio.wav", f, "audio/wav")},
    )

data = resp.json()
for emo in data["emotions"]:
    print(f"{emo['label']}: {emo['score']:.2%}")
