const fs = require("fs");

const resp = await fetch("https://api.amphion.example.com/tts/v1/audio/speech", {
  method: "POST",
  headers: {
    "X-API-Key": "sk-your-api-key",
    "Content-Type": "application/json",
  },
  body: JSON.stringify({
    model: "Qwen3-TTS",
    input: "你好,欢迎使用 Amphion 开放平台。",
    voice: "default",
  }),
});

const buf = Buffer.from(await resp.arrayBuffer());
fs.writeFileSync("output.mp3", buf);
console.log(`Status: ${resp.status}, Size: ${buf.length} bytes`);
