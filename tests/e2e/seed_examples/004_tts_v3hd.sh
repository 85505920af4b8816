# JSON 格式 - V3 模型(使用 HD 版本)
curl -X POST https://fishaudio.net/api/open/tts \
-H "Content-Type: application/json" \
-H "Authorization: Bearer YOUR_API_TOKEN" \
-d '{
"reference_id": "your_model_id",
"text": "要转换的文本内容",
"speed": 1.0,
"volume": 0,
"version": "v3-hd",
"emotion": "happy",
"format": "mp3",
"cache": false
}' \
--output output.mp3
