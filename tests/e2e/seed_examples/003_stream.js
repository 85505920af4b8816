async function streamSpeech() {
const response = await fetch('https://api.example.com/v1/audio/speech', {
method: 'POST',
headers: {
'Content-Type': 'application/json',
'Authorization': 'Bearer YOUR_API_KEY'
},
body: JSON.stringify({
input: "今天天气真不错,阳光明媚,让人心情愉悦。",
model: "tts-1",
voice: "nova",
response_format: "mp3",
stream: true
})
});

if (!response.ok) {
throw new Error(`HTTP error! status: ${response.status}`);
}

// 创建音频上下文
const audioContext = new (window.AudioContext || window.webkitAudioContext)();
const reader = response.body.getReader();

// 处理音频流
const processStream = async () => {
const { done, value } = await reader.read();
if (done) return;

// 解码音频数据并播放
audioContext.decodeAudioData(value.buffer, (buffer) => {
const source = audioContext.createBufferSource();
source.buffer = buffer;
source.connect(audioContext.destination);
source.start(0);
});

// 继续处理流
processStream();
};

processStream();
}
