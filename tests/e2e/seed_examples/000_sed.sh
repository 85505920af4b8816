curl -X POST https://api.amphion.example.com/sed/v1/audio/analyze \
  -H "X-API-Key: sk-your-api-key" \
  -F "file=@audio.wav"
