curl -X POST https://api.amphion.example.com/tts/v1/audio/speech \
  -H "X-API-Key: sk-your-api-key" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "Qwen3-TTS",
    "input": "你好,欢迎使用 Amphion 开放平台。",
    "voice": "default"
  }' \
  --output output.mp3
