const fs = require("fs");
const FormData = require("form-data");

const form = new FormData();
form.append("file", fs.createReadStream("audio.wav"));

const resp = await fetch("https://api.amphion.example.com/sed/v1/audio/analyze", {
  method: "POST",
  headers: { "X-API-Key": "sk-your-api-key", ...form.getHeaders() },
  body: form,
});

const data = await resp.json();
data.emotions.forEach(e => console.log(`${e.label}: ${(e.score * 100).toFixed(1)}%`));
